# services.variet.swapd's typed options -> the swapd.toml table that src/swapd/config.py validates.
#
# Pure Nix (builtins only, no lib, no pkgs): modules/swapd.nix calls it with the evaluated options, and
# tests/nix calls it with nix/data/*.nix and validates the JSON result with swapd's schema, so the key
# names here cannot drift from the Python side unnoticed.
{
  # The typed options (or the same names as pure data): listenAddress, port, defaultTier, policy, gpu,
  # tiers (each: model, contextSize, parallel, extraArgs, vramMiB, aliases, settings) and, optionally,
  # companions (the same, plus gpus).
  cfg,
  # "tier-<name>" or "companion-<name>" -> its `model` option -> the GGUF path llama-server opens.
  modelPath,
  # The llama-server executable.
  llamaServer,
  # Whether the API key / admin token files are configured; they reach swapd as systemd credentials
  # of these names (swapd reads a bare name from $CREDENTIALS_DIRECTORY).
  hasApiKey,
  hasAdminToken,
}:
let
  # A tier's or companion's table: the fields swapd's Tier and Companion share, `extra`, then its
  # `settings`.
  server =
    label: name: t: extra:
    {
      inherit name;
      aliases = t.aliases or [ ];
      model = modelPath label t.model;
      ctx_size = t.contextSize;
      parallel = t.parallel or 1;
      args = t.extraArgs or [ ];
      vram_mib = t.vramMiB;
    }
    // extra
    // (t.settings or { });
  tier = name: server "tier-${name}" name cfg.tiers.${name} { };
  companions = cfg.companions or { };
  companion =
    name:
    let
      c = companions.${name};
    in
    server "companion-${name}" name c { gpus = c.gpus or [ ]; };
in
{
  listen = cfg.listenAddress;
  port = cfg.port;
  default_tier = cfg.defaultTier;
  policy = cfg.policy;
  llama_server = llamaServer;
  # The unit's RuntimeDirectory and StateDirectory; the socket's group lets `swapctl` users in.
  control_socket = "/run/swapd/control.sock";
  control_socket_group = "swapd";
  state_dir = "/var/lib/swapd";
  gpu.backend = cfg.gpu;
  tiers = map tier (builtins.attrNames cfg.tiers);
  companions = map companion (builtins.attrNames companions);
}
// (if hasApiKey then { api_key_files = [ "api-key" ]; } else { })
// (if hasAdminToken then { admin_token_file = "admin-token"; } else { })
