# After nixos/modules/system/etc/etc.nix and config/system-path.nix.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  etcFile =
    { name, config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        target = mkOption {
          type = types.str;
          default = name;
        };
        text = mkOption {
          type = types.nullOr types.lines;
          default = null;
        };
        source = mkOption { type = types.path; };
        mode = mkOption {
          type = types.str;
          default = "symlink";
        };
        user = mkOption {
          type = types.str;
          default = "+0";
        };
        group = mkOption {
          type = types.str;
          default = "+0";
        };
      };
      # etc.nix writes `text` to the store and links it.
      config.source = lib.mkIf (config.text != null) (
        lib.mkDefault (pkgs.writeText "etc-${lib.replaceStrings [ "/" ] [ "-" ] name}" config.text)
      );
    };
in
{
  options.environment = {
    etc = mkOption {
      type = types.attrsOf (types.submodule etcFile);
      default = { };
    };
    systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
  };
}
