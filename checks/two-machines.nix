# Both machines on one VM network: Machine B's assistant reaches Machine A's swapd (fake GPU, stub
# llama-server) over the LAN with the API key, and is refused with a wrong one.
{
  pkgs,
  self,
  stubs,
}:
pkgs.testers.runNixOSTest {
  name = "variet-two-machines";
  defaults.imports = [ self.nixosModules.default ];

  nodes = {
    swapd = import ./swapd-node.nix {
      inherit stubs;
      lan = "eth1";
    };

    assistant = {
      services.variet.assistant = {
        enable = true;
        swapd = {
          url = "http://swapd:8080";
          apiKeyFile = "/etc/variet-test/swapd-api-key";
        };
        searxng.local.enable = false;
      };
      # `assistant chat` reads the key file itself, so it must be 0600 (a copy, not a store link).
      environment.etc."variet-test/swapd-api-key" = {
        text = "vm-test-api-key";
        mode = "0600";
      };
      environment.etc."variet-test/wrong-key" = {
        text = "not-the-key";
        mode = "0600";
      };
      environment.systemPackages = [ pkgs.curl ];
    };
  };

  testScript = ''
    start_all()
    swapd.wait_for_unit("swapd.service")
    swapd.wait_for_open_port(8080)
    assistant.wait_for_unit("multi-user.target")

    with subtest("swapd is reachable from Machine B over the LAN"):
        assistant.wait_until_succeeds("curl -sS --fail http://swapd:8080/health", timeout=60)

    with subtest("with the API key, the assistant gets an answer through swapd"):
        reply = assistant.succeed("echo 'hello' | assistant chat --config /etc/variet/assistant.toml")
        assert reply.strip(), reply

    with subtest("without the right key, swapd refuses and the assistant says so"):
        code = assistant.succeed("curl -s -o /dev/null -w '%{http_code}' http://swapd:8080/v1/models")
        assert code.strip() == "401", code
        assistant.succeed(
            "sed 's|/etc/variet-test/swapd-api-key|/etc/variet-test/wrong-key|' "
            + "/etc/variet/assistant.toml > /tmp/wrong-key.toml"
        )
        status, out = assistant.execute("echo 'hello' | assistant chat --config /tmp/wrong-key.toml 2>&1")
        assert status != 0 or "401" in out or "key" in out.lower(), out
  '';
}
