# After nixos/modules/services/networking/ssh/sshd.nix and services/networking/searx.nix as of
# nixos-25.11 (whose searx unit carries its own sandbox at normal priority).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  ssh = config.services.openssh;
  searx = config.services.searx;
in
{
  options.services = {
    openssh = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      openFirewall = mkOption {
        type = types.bool;
        default = true;
      };
      ports = mkOption {
        type = types.listOf types.port;
        default = [ 22 ];
      };
      settings = mkOption {
        type = types.submodule {
          freeformType = types.attrsOf (
            types.nullOr (
              types.oneOf [
                types.bool
                types.int
                types.str
                (types.listOf types.str)
              ]
            )
          );
          options = {
            PasswordAuthentication = mkOption {
              type = types.nullOr types.bool;
              default = true;
            };
            PermitRootLogin = mkOption {
              type = types.enum [
                "yes"
                "without-password"
                "prohibit-password"
                "forced-commands-only"
                "no"
              ];
              default = "prohibit-password";
            };
          };
        };
        default = { };
      };
    };

    searx = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      environmentFile = mkOption {
        type = types.nullOr types.path;
        default = null;
      };
      settings = mkOption {
        type = types.submodule { freeformType = (pkgs.formats.yaml { }).type; };
        default = { };
      };
    };
  };

  config = lib.mkMerge [
    (lib.mkIf ssh.enable {
      networking.firewall.allowedTCPPorts = lib.mkIf ssh.openFirewall ssh.ports;
    })
    (lib.mkIf searx.enable {
      services.searx.settings.use_default_settings = lib.mkDefault true;
      users.users.searx = {
        description = "Searx daemon user";
        group = "searx";
        isSystemUser = true;
      };
      users.groups.searx = { };
      systemd.services.searx-init = {
        description = "Initialise Searx settings";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          User = "searx";
          RuntimeDirectory = "searx";
          RuntimeDirectoryMode = "750";
        }
        // lib.optionalAttrs (searx.environmentFile != null) { EnvironmentFile = searx.environmentFile; };
      };
      systemd.services.searx = {
        description = "Searx server, the meta search engine.";
        wantedBy = [ "multi-user.target" ];
        requires = [ "searx-init.service" ];
        after = [
          "searx-init.service"
          "network.target"
        ];
        serviceConfig = {
          CacheDirectory = "searx";
          DevicePolicy = "closed";
          DynamicUser = true;
          ExecStart = lib.getExe pkgs.searxng;
          Group = "searx";
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          NoNewPrivileges = true;
          PrivateDevices = true;
          PrivateTmp = true;
          PrivateUsers = true;
          ProtectHome = true;
          ProtectSystem = "strict";
          RestrictAddressFamilies = [
            "AF_INET"
            "AF_INET6"
            "AF_UNIX"
          ];
          SystemCallFilter = [
            "@system-service"
            "~@privileged @resources"
          ];
          UMask = "0077";
          User = "searx";
        }
        // lib.optionalAttrs (searx.environmentFile != null) { EnvironmentFile = searx.environmentFile; };
      };
    })
  ];
}
