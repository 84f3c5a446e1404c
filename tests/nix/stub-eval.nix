# Evaluates one of our NixOS modules without nixpkgs: shallow stand-ins for nixpkgs' `lib` (the module
# system's mkOption/mkIf/mkMerge/mkDefault and the few helpers we call) and `pkgs` (derivations become
# plain `{ outPath; }` sets). Debian's Nix 2.8 cannot evaluate nixpkgs itself, so this checks only our
# own expressions: every option and unit attribute is forced, so a misspelt option or a wrong argument
# fails here instead of on a deploy. Option semantics (types, priorities) are NOT checked here.
{
  # The module file, e.g. ../../modules/swapd.nix.
  module,
  # Option values under `services.variet`, as a NixOS configuration would set them (pure data)...
  values ? null,
  # ...or a host file (hosts/*.nix) whose `services.variet` to take them from.
  host ? null,
  # Other NixOS options the module reads.
  system ? {
    time.timeZone = null;
  },
}:
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    filter
    foldl'
    isAttrs
    isFunction
    listToAttrs
    mapAttrs
    substring
    stringLength
    ;

  recursiveUpdate =
    a: b:
    a
    // mapAttrs (
      name: value: if isAttrs value && isAttrs (a.${name} or null) then recursiveUpdate a.${name} value else value
    ) b;
  option = attrs: attrs // { _option = true; };
  type = name: extra: { _type = name; } // extra;

  lib = rec {
    inherit (builtins) elem all;
    inherit recursiveUpdate;
    mkOption = option;
    mkEnableOption = description: option {
      default = false;
      inherit description;
    };
    mkPackageOption =
      pkgs: name: _:
      option { default = pkgs.${name}; };
    mkIf = condition: content: if condition then content else { };
    mkMerge = foldl' recursiveUpdate { };
    mkDefault = value: value;
    literalExpression = text: text;
    types = {
      str = type "str" { };
      bool = type "bool" { };
      path = type "path" { };
      port = type "port" { };
      package = type "package" { };
      ints = {
        positive = type "int" { };
        unsigned = type "int" { };
      };
      strMatching = _: type "str" { };
      enum = values: type "enum" { inherit values; };
      nullOr = t: t;
      either = a: b: if b._type == "submodule" then b else a;
      listOf = t: type "listOf" { elem = t; };
      attrsOf = t: type "attrsOf" { elem = t; };
      submodule = m: type "submodule" { options = (if isFunction m then m { name = "stub"; } else m).options; };
    };
    getExe' = package: program: "${package}/bin/${program}";
    getExe = package: "${package}/bin/${package.meta.mainProgram}";
    hasPrefix = prefix: text: substring 0 (stringLength prefix) text == prefix;
    optional = condition: value: if condition then [ value ] else [ ];
    inherit concatStringsSep attrNames mapAttrs;
    filterAttrs =
      keep: attrs:
      listToAttrs (
        concatMap (
          name:
          if keep name attrs.${name} then
            [
              {
                inherit name;
                value = attrs.${name};
              }
            ]
          else
            [ ]
        ) (attrNames attrs)
      );
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: attrs: listToAttrs (mapAttrsToList f attrs);
    mapAttrsRecursive =
      f: attrs: mapAttrs (_: value: if isAttrs value && !(value ? outPath) then mapAttrsRecursive f value else f [ ] value) attrs;
  };

  derivation = name: extra: { outPath = "/nix/store/00000000000000000000000000000000-${name}"; } // extra;
  pkgs = {
    formats.toml = { }: {
      type = lib.types.attrsOf (type "toml" { });
      generate = name: value: derivation name { inherit value; };
    };
    runCommand =
      name: env: script:
      derivation name { inherit env script; };
    writeShellApplication = args: derivation args.name { inherit (args) text; };
    fetchurl = args: derivation (baseNameOf args.url) { inherit args; };
    linkFarm = name: entries: derivation name { inherit entries; };
    llama-cpp.override = _: derivation "llama-cpp" { };
    llama-cpp-cuda = derivation "llama-cpp-cuda" { };
    variet = derivation "variet" { meta.mainProgram = "swapd"; };
    systemd = derivation "systemd" { };
  };

  evaluate = config: import module { inherit config lib pkgs; };
  # Options are read from the same evaluation (lazily), as defaults may refer to other options.
  declared = (evaluate config).options.services.variet;

  # The given values over the declared defaults, as the module system would merge one definition each;
  # a value for an option that is not declared fails, as it does in NixOS.
  valueOf =
    decl: given:
    let
      t = decl.type or { };
    in
    if given == null then
      decl.default or null
    else if (t._type or "") == "submodule" && isAttrs given then
      withDefaults t.options given
    else if (t._type or "") == "attrsOf" && (t.elem._type or "") == "submodule" then
      mapAttrs (_: withDefaults t.elem.options) given
    else
      given;
  withDefaults =
    options: given:
    let
      undeclared = filter (name: !(options ? ${name})) (attrNames given);
    in
    if undeclared != [ ] then
      throw "The option(s) ${concatStringsSep ", " undeclared} do not exist (declared: ${concatStringsSep ", " (attrNames options)})"
    else
      mapAttrs (
        name: decl:
        if decl._option or false then valueOf decl (given.${name} or null) else withDefaults decl (given.${name} or { })
      ) options;

  given = if host != null then (import host { inherit lib pkgs config; }).services.variet else values;
  config = recursiveUpdate system {
    services.variet = withDefaults declared given;
    systemd.package = pkgs.systemd;
  };
in
(evaluate config).config
