# After nixos/lib/systemd-unit-options.nix, nixos/lib/systemd-lib.nix and
# nixos/modules/system/boot/systemd.nix: `systemd.services` with NixOS's merge of unit settings (lists
# concatenate, anything else must agree) and its check of `Type` and `Restart`.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  # systemd-lib.nix's assertValueOneOf, as checkService applies it.
  oneOf =
    name: values: group:
    !(group ? ${name}) || lib.elem group.${name} values;
  checkService =
    group:
    oneOf "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ] group
    && oneOf "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "always"
    ] group;

  unitNames = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  service = {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      wantedBy = unitNames;
      requiredBy = unitNames;
      wants = unitNames;
      requires = unitNames;
      after = unitNames;
      before = unitNames;
      bindsTo = unitNames;
      partOf = unitNames;
      environment = mkOption {
        type = types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.str
              types.path
              types.package
            ]
          )
        );
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.oneOf [
          types.package
          types.str
        ]);
        default = [ ];
      };
      serviceConfig = mkOption {
        type = types.addCheck (types.attrsOf unitOption) checkService;
        default = { };
      };
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
    };
  };
in
{
  options.systemd = {
    package = mkOption {
      type = types.package;
      default = pkgs.systemd;
    };
    services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
    };
  };
}
