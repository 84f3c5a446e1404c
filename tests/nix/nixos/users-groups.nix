# After nixos/modules/config/users-groups.nix (with the users' `openssh.authorizedKeys` that
# services/networking/ssh/sshd.nix adds): the accounts NixOS always has, and its assertions on users.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.users;

  # A password hash that allows logging in.
  allowsLogin = hash: hash == "" || !(lib.elem hash [ null "!" "!!" "*" ]);

  userOpts =
    { name, config, ... }:
    {
      options = {
        name = mkOption { type = types.passwdEntry types.str; };
        description = mkOption {
          type = types.passwdEntry types.str;
          default = "";
        };
        uid = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
        };
        group = mkOption {
          type = types.str;
          default = "";
        };
        extraGroups = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        home = mkOption {
          type = types.passwdEntry types.path;
          default = "/var/empty";
        };
        createHome = mkOption {
          type = types.bool;
          default = false;
        };
        hashedPassword = mkOption {
          type = types.nullOr (types.passwdEntry types.str);
          default = null;
        };
        password = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        hashedPasswordFile = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        initialHashedPassword = mkOption {
          type = types.nullOr (types.passwdEntry types.str);
          default = null;
        };
        packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        openssh.authorizedKeys = {
          keys = mkOption {
            type = types.listOf types.singleLineStr;
            default = [ ];
          };
          keyFiles = mkOption {
            type = types.listOf types.path;
            default = [ ];
          };
        };
      };
      config = lib.mkMerge [
        { name = lib.mkDefault name; }
        (lib.mkIf config.isNormalUser {
          group = lib.mkDefault "users";
          createHome = lib.mkDefault true;
          home = lib.mkDefault "/home/${config.name}";
          isSystemUser = lib.mkDefault false;
        })
      ];
    };

  groupOpts =
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
        };
        gid = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        members = mkOption {
          type = types.listOf (types.passwdEntry types.str);
          default = [ ];
        };
      };
    };
in
{
  options.users = {
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
    };
    allowNoPasswordLogin = mkOption {
      type = types.bool;
      default = false;
    };
    users = mkOption {
      type = types.attrsOf (types.submodule userOpts);
      default = { };
    };
    groups = mkOption {
      type = types.attrsOf (types.submodule groupOpts);
      default = { };
    };
  };

  config = {
    users.users = {
      root = {
        uid = 0;
        description = "System administrator";
        home = "/root";
        group = "root";
        initialHashedPassword = lib.mkDefault "!";
      };
      nobody = {
        uid = 65534;
        isSystemUser = true;
        description = "Unprivileged account (don't use!)";
        group = "nogroup";
      };
    };
    users.groups = lib.genAttrs [ "root" "wheel" "users" "nogroup" "video" "render" ] (_: { });

    assertions = [
      {
        assertion =
          !cfg.mutableUsers
          -> !cfg.allowNoPasswordLogin
          -> lib.any lib.id (
            lib.mapAttrsToList (
              name: user:
              (name == "root" || user.group == "wheel" || lib.elem "wheel" user.extraGroups)
              && (
                allowsLogin user.hashedPassword
                || user.password != null
                || user.hashedPasswordFile != null
                || user.openssh.authorizedKeys.keys != [ ]
                || user.openssh.authorizedKeys.keyFiles != [ ]
              )
            ) cfg.users
          );
        message = ''
          Neither the root account nor any wheel user has a password or SSH authorized key.
          You must set one to prevent being locked out of your system.
          If you really want to be locked out of your system, set users.allowNoPasswordLogin = true;
          However you are most probably better off by setting users.mutableUsers = true; and
          manually running passwd root to set the root password.
        '';
      }
    ]
    ++ lib.flatten (
      lib.mapAttrsToList (_: user: [
        {
          assertion =
            let
              xor = a: b: a && !b || b && !a;
              isEffectivelySystemUser = user.isSystemUser || (user.uid != null && user.uid < 1000);
            in
            xor isEffectivelySystemUser user.isNormalUser;
          message = ''
            Exactly one of users.users.${user.name}.isSystemUser and users.users.${user.name}.isNormalUser must be set.
          '';
        }
        {
          assertion = user.group != "";
          message = ''
            users.users.${user.name}.group is unset. This used to default to
            nogroup, but this is unsafe. For example you can create a group
            for this user with:
            users.users.${user.name}.group = "${user.name}";
            users.groups.${user.name} = {};
          '';
        }
      ]) cfg.users
    );
  };
}
