# The VS Code extension from source: stage 1 builds the .vsix with buildNpmPackage and the vsce in its
# own devDependencies (as `make -C vscode-extension package` does); stage 2 wraps it for
# vscode-with-extensions with vscode-utils.buildVscodeExtension.
{
  lib,
  buildNpmPackage,
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
    # FILL IN after any change to vscode-extension/package-lock.json: build once, and Nix prints the
    # right hash (or run `prefetch-npm-deps vscode-extension/package-lock.json`).
    npmDepsHash = lib.fakeHash;
    # esbuild finds its platform binary without its install script; vsce-sign's only fetches a tool.
    npmFlags = [ "--ignore-scripts" ];
    npmBuildScript = "bundle";
    postBuild = ''
      node_modules/.bin/vsce package --no-dependencies --allow-missing-repository --skip-license -o ${manifest.name}.vsix
    '';
    # The .vsix for `code --install-extension`, and the same zip under a name every nixpkgs unpacker
    # knows (older vscode-utils unpack only `.zip`).
    installPhase = ''
      runHook preInstall
      install -Dm444 ${manifest.name}.vsix "$out/${manifest.name}.vsix"
      ln -s ${manifest.name}.vsix "$out/${manifest.name}.zip"
      runHook postInstall
    '';
  };
in
vscode-utils.buildVscodeExtension {
  # Older vscode-utils name the derivation from `name`, newer ones from `pname` and `version`.
  name = "${manifest.publisher}-${manifest.name}-${manifest.version}";
  pname = manifest.name;
  inherit (manifest) version;
  src = "${vsix}/${manifest.name}.zip";
  vscodeExtPublisher = manifest.publisher;
  vscodeExtName = manifest.name;
  vscodeExtUniqueId = "${manifest.publisher}.${manifest.name}";
  passthru = { inherit vsix; };
  meta.license = lib.licenses.mit;
}
