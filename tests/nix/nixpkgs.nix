# Stand-in for the nixpkgs package set (`import nixpkgs { overlays; config; }`), which Debian's Nix 2.8
# cannot load. Derivations become plain `{ type = "derivation"; outPath; … }` sets whose attributes are
# the arguments they were given, so tests can read them; nothing is built. The trivial builders
# (runCommand, writeText, formats' `generate`, …) turn their inputs into strings when their `outPath` is
# read, as instantiating a derivation does, so reading a config file's path forces and type-checks every
# option it is rendered from. The language builders (buildPythonPackage, buildNpmPackage, …) leave their
# inputs unforced: those need the real nixpkgs. `callPackage` calls the function for real, passing a
# stand-in for any argument this set lacks, except where the function is imported from a derivation
# (llama.cpp's own package.nix): that becomes a recorded call.
{
  lib,
  # tests/nix/eval.nix's `pkgs.testers.runNixOSTest`.
  runNixOSTest,
  overlays ? [ ],
  config ? { },
  system ? "x86_64-linux",
  ...
}:
let
  # A store path for `name` (Nix's base-32 alphabet has no "e").
  storePath =
    name: "/nix/store/${lib.replaceStrings [ "e" ] [ "x" ] (builtins.substring 0 32 (builtins.hashString "sha256" name))}-${name}";

  drv =
    name: attrs:
    let
      self = attrs // {
        type = "derivation";
        inherit name;
        outPath = storePath name;
        drvPath = storePath "${name}.drv";
        outputName = "out";
        outputs = [ "out" ];
        out = self;
        meta = attrs.meta or { };
        overrideAttrs =
          f:
          let
            next = f attrs;
          in
          drv name (attrs // (if lib.isFunction next then next attrs else next));
        override = args: drv name (attrs // args);
      };
    in
    self;

  # mkDerivation keeps `passthru` at the top level.
  package = name: args: drv name (args // (args.passthru or { }));

  # A derivation whose environment (every argument but `passthru` and `meta`) is made into strings when
  # its store path is read.
  asString =
    value:
    if builtins.isList value then
      map asString value
    else if builtins.isAttrs value then
      value.outPath or (throw "cannot coerce a set without outPath to a string in a derivation")
    else
      toString value;
  instantiated =
    name: env:
    let
      plain = drv name env;
      inputs = map (key: asString env.${key}) (builtins.attrNames (removeAttrs env [ "passthru" "meta" ]));
    in
    plain // (env.passthru or { }) // { outPath = builtins.deepSeq inputs plain.outPath; };

  callPackageWith =
    scope: fn: overrides:
    if lib.isFunction fn || builtins.pathExists fn then
      let
        f = if lib.isFunction fn then fn else import fn;
        wanted = lib.filterAttrs (name: optional: !optional || scope ? ${name}) (builtins.functionArgs f);
      in
      f (lib.mapAttrs (name: _: scope.${name} or (drv name { })) wanted // overrides)
    else
      drv (lib.removeSuffix ".nix" (baseNameOf fn)) {
        importedFromDerivation = toString fn;
        arguments = overrides;
      };

  # pkgs/pkgs-lib/formats.nix: the value types and `generate`, whose stand-in keeps the JSON it would
  # convert (as the real one passes it to the converter).
  valueType =
    description: nullable:
    let
      t =
        (
          if nullable then
            lib.types.nullOr
          else
            lib.id
        )
          (
            lib.types.oneOf [
              lib.types.bool
              lib.types.int
              lib.types.float
              lib.types.str
              lib.types.path
              (lib.types.attrsOf t)
              (lib.types.listOf t)
            ]
          )
        // {
          inherit description;
        };
    in
    t;
  format = description: nullable: _: {
    type = valueType description nullable;
    generate = name: value: instantiated name { value = builtins.toJSON value; };
  };

  # stdenv.mkDerivation with `finalAttrs` and `overrideAttrs` as in pkgs/stdenv/generic/make-derivation.nix.
  mkDerivationFrom =
    rattrs:
    let
      attrs = lib.fix rattrs;
    in
    package "${attrs.pname}-${attrs.version}" attrs
    // {
      overrideAttrs = f: mkDerivationFrom (lib.extends (lib.toExtension f) rattrs);
    };
  stdenv = {
    mkDerivation = args: mkDerivationFrom (if lib.isFunction args then args else _: args);
    hostPlatform = {
      isLinux = true;
      isGnu = true;
      isDarwin = false;
      isAarch64 = false;
      isStatic = false;
    };
    cc.cc.lib = drv "gcc-lib" { };
  };

  pythonNames = [
    "annotated-types"
    "anyio"
    "click"
    "discordpy"
    "fastapi"
    "google-api-python-client"
    "google-auth-oauthlib"
    "h11"
    "hatchling"
    "httptools"
    "httpx"
    "hypothesis"
    "idna"
    "jsonschema"
    "nvidia-ml-py"
    "opentelemetry-api"
    "prometheus-client"
    "pydantic"
    "pydantic-core"
    "pyjwt"
    "pytest"
    "pytest-timeout"
    "python-multipart"
    "sniffio"
    "sse-starlette"
    "starlette"
    "truststore"
    "typing-extensions"
    "typing-inspection"
    "uvicorn"
    "uvloop"
  ];

  python =
    final: packageOverrides:
    let
      interpreter =
        drv "python3-3.13.0" {
          pythonVersion = "3.13";
          sitePackages = "lib/python3.13/site-packages";
          meta.mainProgram = "python3";
        }
        // {
          pkgs = pythonPackages;
          override = args: python final (args.packageOverrides or (_: _: { }));
          withPackages = _: drv "python3-3.13.0-env" { };
        };
      base =
        self:
        lib.genAttrs pythonNames (
          name:
          drv "python3.13-${name}-0" {
            pname = name;
            version = "0";
            optional-dependencies.crypto = [ ];
          }
        )
        // {
          python = interpreter;
          callPackage = callPackageWith (final // self);
          buildPythonPackage = args: package "python3.13-${args.pname}-${args.version}" args;
          buildPythonApplication = args: package "${args.pname}-${args.version}" args;
          toPythonModule = lib.id;
        };
      pythonPackages = lib.fix (lib.extends packageOverrides base);
    in
    interpreter;

  tools = [
    "autoPatchelfHook"
    "cmake"
    "curl"
    "gcc"
    "git"
    "gnumake"
    "llama-cpp"
    "nix"
    "nodejs_20"
    "searxng"
    "systemd"
    "vscodium"
  ];

  nixpkgs =
    final:
    lib.genAttrs tools (name: drv name { meta.mainProgram = name; })
    // {
      inherit lib system;
      config = {
        cudaSupport = false;
        rocmSupport = false;
      }
      // config;
      callPackage = callPackageWith final;
      formats = {
        json = format "JSON value" true;
        yaml = format "YAML value" true;
        toml = format "TOML value" false;
      };
      python3 = python final (_: _: { });
      inherit stdenv;
      stdenvNoCC = stdenv;
      blas = drv "blas" { meta.available = true; };
      # pkgs/development/cuda-modules: the flags come from `config.cudaCapabilities`.
      cudaPackages =
        lib.genAttrs [ "cuda_nvcc" "cuda_cudart" "cccl" "libcublas" ] (name: drv name { })
        // {
          backendStdenv = stdenv;
          flags = {
            cudaCapabilities = config.cudaCapabilities or [ ];
            dropDot = lib.replaceStrings [ "." ] [ "" ];
          };
        };

      fetchurl = args: instantiated (args.name or (baseNameOf (args.url or (lib.head args.urls)))) args;
      runCommand =
        name: env: buildCommand:
        instantiated name (env // { inherit buildCommand; });
      writeText = name: text: instantiated name { inherit text; };
      writeShellApplication = args: instantiated args.name (args // { meta.mainProgram = args.name; });
      linkFarm =
        name: entries:
        instantiated name {
          entries = map (entry: "${entry.name}=${asString entry.path}") entries;
        };
      mkShell = args: drv "nix-shell" args;

      buildNpmPackage = args: package "${args.pname}-${args.version}" args;
      importNpmLock = {
        __functor = _: args: drv "npm-deps" args;
        npmConfigHook = drv "npm-config-hook" { };
      };
      vscode-utils.buildVscodeExtension = args: package "vscode-extension-${args.pname}-${args.version}" args;
      vscode-with-extensions.override = args: drv "vscode-with-extensions" args;

      testers.runNixOSTest = runNixOSTest final;
    };
in
lib.fix (lib.extends (lib.composeManyExtensions overlays) nixpkgs)
