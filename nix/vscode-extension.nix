# The VS Code extension from source: stage 1 builds the .vsix with buildNpmPackage and the vsce in its
# own devDependencies (as `make -C vscode-extension package` does); stage 2 wraps it for
# vscode-with-extensions with vscode-utils.buildVscodeExtension.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  vscode-utils,
}:
let
  manifest = lib.importJSON ../vscode-extension/package.json;

  vsix = buildNpmPackage {
    pname = "${manifest.name}-vsix";
    inherit (manifest) version;
    src = lib.fileset.toSource {
      root = ../vscode-extension;
      fileset = lib.fileset.difference ../vscode-extension (
        lib.fileset.unions [
          (lib.fileset.maybeMissing ../vscode-extension/node_modules)
          (lib.fileset.maybeMissing ../vscode-extension/dist)
        ]
      );
    };
    # Every dependency is fetched with the integrity hash package-lock.json records, so there is no
    # separate npmDepsHash to keep in step with the lock file.
    npmDeps = importNpmLock { npmRoot = ../vscode-extension; };
    npmConfigHook = importNpmLock.npmConfigHook;
    # esbuild finds its platform binary without its install script; vsce-sign's only fetches a tool.
    npmFlags = [ "--ignore-scripts" ];
    npmBuildScript = "bundle";
    postBuild = ''
      node_modules/.bin/vsce package --no-dependencies --allow-missing-repository --skip-license -o ${manifest.name}.vsix
    '';
    # The .vsix, for buildVscodeExtension below and for `code --install-extension` elsewhere.
    installPhase = ''
      runHook preInstall
      install -Dm444 ${manifest.name}.vsix "$out/${manifest.name}.vsix"
      runHook postInstall
    '';
  };
in
vscode-utils.buildVscodeExtension {
  pname = manifest.name;
  inherit (manifest) version;
  # nixos-25.11's unpack hook unpacks a source only when its name ends in .vsix.
  src = "${vsix}/${manifest.name}.vsix";
  vscodeExtPublisher = manifest.publisher;
  vscodeExtName = manifest.name;
  vscodeExtUniqueId = "${manifest.publisher}.${manifest.name}";
  passthru = { inherit vsix; };
  meta.license = lib.licenses.mit;
}
