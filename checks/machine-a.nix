# Machine A in a VM: swapd with the fake GPU backend and the stub llama-server. `swapctl balanced`
# swaps, the proxy serves a chat with the API key (and refuses one without), the companion answers beside
# the tier without a swap, the tier survives a restart of the service, and the port answers on the LAN
# interface only.
{
  pkgs,
  self,
  stubs,
}:
pkgs.testers.runNixOSTest {
  name = "variet-machine-a";
  defaults.imports = [ self.nixosModules.swapd ];

  nodes = {
    machine = {
      imports = [
        (import ./swapd-node.nix {
          inherit stubs;
          lan = "eth1";
        })
      ];
      virtualisation.vlans = [
        1 # eth1: the LAN
        2 # eth2: another network, where the port must stay closed
      ];
    };
    lan = {
      virtualisation.vlans = [ 1 ];
      environment.systemPackages = [ pkgs.curl ];
    };
    outside = {
      virtualisation.vlans = [ 2 ];
      environment.systemPackages = [ pkgs.curl ];
    };
  };

  testScript =
    { nodes, ... }:
    let
      address = interface: (builtins.head nodes.machine.networking.interfaces.${interface}.ipv4.addresses).address;
    in
    ''
      import json

      def chat_with(model):
          return (
              "curl -sS --fail-with-body -D /tmp/headers -H 'Content-Type: application/json' "
              + "-d '{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}' "
          )

      chat = chat_with("auto")
      key = "-H 'Authorization: Bearer vm-test-api-key' "
      url = "http://127.0.0.1:8080/v1/chat/completions"

      def status():
          return json.loads(machine.succeed("su - operator -c 'swapctl status --json'"))

      start_all()
      machine.wait_for_unit("swapd.service")
      machine.wait_for_open_port(8080)

      with subtest("the unit is sandboxed and the control socket belongs to group swapd"):
          assert machine.succeed("systemctl show -P DevicePolicy swapd").strip() == "closed"
          assert "char-nvidia-frontend" in machine.succeed("systemctl show -P DeviceAllow swapd")
          assert machine.succeed("systemctl show -P User swapd").strip() == "swapd"
          machine.wait_for_file("/run/swapd/control.sock")
          assert machine.succeed("stat -c %a:%G /run/swapd/control.sock").strip() == "660:swapd"

      with subtest("swapctl balanced swaps and waits until the tier is ready"):
          machine.succeed("su - operator -c 'swapctl balanced'")
          now = status()
          assert now["tier"] == "balanced" and now["state"] == "ready", now

      with subtest("the proxy serves a chat with the API key, and refuses one without"):
          answer = json.loads(machine.succeed(chat + key + url))
          assert answer["choices"][0]["message"]["content"].startswith("tok0"), answer
          assert "x-swapd-tier: balanced" in machine.succeed("cat /tmp/headers").lower()
          assert machine.succeed(
              "curl -s -o /dev/null -w '%{http_code}' -X POST " + url
          ).strip() == "401"

      with subtest("the companion answers by its alias beside the tier, without a swap"):
          def companion_ready(_):
              return any(c["name"] == "fim" and c["state"] == "ready" for c in status()["companions"])

          retry(companion_ready, timeout=60)
          answer = json.loads(machine.succeed(chat_with("completion") + key + url))
          assert answer["choices"][0]["message"]["content"].startswith("tok0"), answer
          assert "x-swapd-companion: fim" in machine.succeed("cat /tmp/headers").lower()
          now = status()
          assert now["tier"] == "balanced" and now["state"] == "ready", now

      with subtest("the tier survives a restart of the service"):
          machine.systemctl("restart swapd.service")
          machine.wait_for_unit("swapd.service")
          machine.wait_for_open_port(8080)
          machine.wait_until_succeeds(
              "su - operator -c 'swapctl status --json' | grep -q '\"state\": *\"ready\"'", timeout=60
          )
          assert status()["tier"] == "balanced"

      with subtest("the port is open on the LAN interface and closed on the other"):
          lan.wait_for_unit("network-online.target")
          outside.wait_for_unit("network-online.target")
          lan.succeed("curl -sS --fail --max-time 10 http://${address "eth1"}:8080/health")
          outside.succeed("ping -c 1 -W 10 ${address "eth2"}")
          outside.fail("curl -sS --max-time 5 http://${address "eth2"}:8080/health")
    '';
}
