# After nixos/modules/tasks/network-interfaces.nix, config/networking.nix and
# services/networking/firewall.nix.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  ports = mkOption {
    type = types.listOf types.port;
    default = [ ];
  };
  firewallRules = {
    allowedTCPPorts = ports;
    allowedUDPPorts = ports;
  };
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };
    hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
    };
    interfaces = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            useDHCP = mkOption {
              type = types.nullOr types.bool;
              default = null;
            };
            ipv4.addresses = mkOption {
              type = types.listOf (
                types.submodule {
                  options = {
                    address = mkOption { type = types.str; };
                    prefixLength = mkOption { type = types.addCheck types.int (n: n >= 0 && n <= 32); };
                  };
                }
              );
              default = [ ];
            };
          };
        }
      );
      default = { };
    };
    firewall = firewallRules // {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      interfaces = mkOption {
        type = types.attrsOf (types.submodule { options = firewallRules; });
        default = { };
      };
    };
  };
}
