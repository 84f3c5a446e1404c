# Machine B in a VM: the assistant against a stub swapd (the stub llama-server, which speaks the same
# OpenAI-compatible API), the local SearXNG on loopback with JSON output, and the MCP tool servers
# answering over stdio. Discord and Google need the Internet: the bot stays off, and the Google tools
# answer without a token only with the error that names `assistant auth google`.
{
  pkgs,
  self,
  stubs,
}:
let
  # The SDK's own stdio client, from the same Python set as the assistant.
  probe = pkgs.writeShellApplication {
    name = "mcp-probe";
    text = ''
      exec ${pkgs.variet.python.withPackages (ps: [ ps.mcp ])}/bin/python ${./mcp-probe.py} "$@"
    '';
  };
in
pkgs.testers.runNixOSTest {
  name = "variet-machine-b";
  defaults.imports = [ self.nixosModules.assistant ];

  nodes.machine = {
    services.variet.assistant = {
      enable = true;
      swapd = {
        url = "http://127.0.0.1:8080";
        apiKeyFile = "/etc/variet-test/swapd-api-key";
      };
      searxng.local.environmentFile = "/etc/variet-test/searx.env";
      # On, so their servers start and list their tools; with no token a call says how to get one.
      google = {
        clientSecretFile = "/etc/variet-test/google-client-secret";
        calendar.enable = true;
        gmail.enable = true;
      };
    };
    environment.etc."variet-test/searx.env" = {
      text = "SEARX_SECRET_KEY=vm-test-only";
      mode = "0400";
    };
    environment.etc."variet-test/google-client-secret" = {
      text = builtins.toJSON {
        installed = {
          client_id = "vm-test";
          client_secret = "vm-test";
          auth_uri = "https://accounts.google.com/o/oauth2/auth";
          token_uri = "https://oauth2.googleapis.com/token";
          redirect_uris = [ "http://localhost" ];
        };
      };
      mode = "0600";
    };
    # The unit's credential source; `assistant chat` reads its user's own 0600 copy (set up below).
    environment.etc."variet-test/swapd-api-key" = {
      text = "vm-test-api-key";
      mode = "0600";
    };

    # The stub swapd: one tier that is always ready.
    systemd.services.stub-swapd = {
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        DynamicUser = true;
        ExecStart = "${pkgs.lib.getExe stubs.llama-server} --host 127.0.0.1 --port 8080 --model ${stubs.model}";
      };
    };
    environment.systemPackages = [
      pkgs.curl
      probe
    ];
  };

  testScript = ''
    import json

    searxng = "assistant mcp searxng --config /etc/variet/assistant.toml"

    start_all()
    machine.wait_for_unit("searx.service")
    machine.wait_for_unit("stub-swapd.service")
    machine.wait_for_open_port(8888)
    machine.wait_for_open_port(8080)

    with subtest("the rendered config passes the assistant's own check"):
        machine.succeed("assistant check-config /etc/variet/assistant.toml")
        machine.succeed("assistant check-config /etc/variet/assistant-service.toml")

    with subtest("SearXNG answers JSON on loopback only"):
        answer = json.loads(machine.succeed("curl -sS --fail 'http://127.0.0.1:8888/search?q=nixos&format=json'"))
        assert "results" in answer, answer
        assert "127.0.0.1:8888" in machine.succeed("ss -Htln")
        machine.fail("ss -Htln | grep -v 127.0.0.1 | grep -q ':8888'")

    with subtest("the tool servers answer over stdio"):
        # As the chat's user would: their own copy of the client secret (/etc/variet/assistant.toml).
        machine.succeed(
            "install -D -m 0600 /etc/variet-test/google-client-secret /root/.config/variet/google-client-secret"
        )
        tools = json.loads(machine.succeed(f"mcp-probe list -- {searxng}"))
        assert {"web_search", "fetch_url"} <= set(tools), tools
        result = json.loads(
            machine.succeed(f"""mcp-probe call web_search '{{"query": "nixos"}}' -- {searxng}""")
        )
        assert not result["isError"], result
        for server, tool in (("calendar", "list_calendars"), ("gmail", "list_labels")):
            command = f"assistant mcp {server} --config /etc/variet/assistant.toml"
            assert tool in json.loads(machine.succeed(f"mcp-probe list -- {command}"))
            result = json.loads(machine.succeed(f"mcp-probe call {tool} '{{}}' -- {command}"))
            assert result["isError"] and "assistant auth google" in result["text"], result

    with subtest("the assistant chats through the stub swapd"):
        machine.succeed("install -D -m 0600 /etc/variet-test/swapd-api-key /root/.config/variet/swapd-api-key")
        reply = machine.succeed("echo 'hello' | assistant chat --config /etc/variet/assistant.toml")
        assert "tok0" in reply, reply
  '';
}
