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
      # The unit's credential source; `assistant chat` reads its user's own 0600 copy (set up below).
      environment.etc."variet-test/swapd-api-key" = {
        text = "vm-test-api-key";
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

    chat = "echo 'hello' | assistant chat --config /etc/variet/assistant.toml 2>&1"
    key = "/root/.config/variet/swapd-api-key"

    with subtest("with the API key, the assistant gets an answer through swapd"):
        assistant.succeed(f"install -D -m 0600 /etc/variet-test/swapd-api-key {key}")
        reply = assistant.succeed(chat)
        assert "tok0" in reply, reply

    with subtest("without the right key, swapd refuses and the assistant says so"):
        code = assistant.succeed("curl -s -o /dev/null -w '%{http_code}' http://swapd:8080/v1/models")
        assert code.strip() == "401", code
        assistant.succeed(f"echo not-the-key > {key}")
        status, out = assistant.execute(chat)
        assert status != 0 or "401" in out or "key" in out.lower(), out
  '';
}
