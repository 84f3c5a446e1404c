# services.variet.assistant's typed options -> the assistant.toml table that src/assistant/config.py
# validates (with the [discord] section of src/assistant/discord_bot/settings.py and the tool servers'
# sections of src/assistant/servers/settings.py).
#
# Pure Nix (builtins only, no lib, no pkgs): modules/assistant.nix calls it, and tests/nix calls it with
# nix/data/*.nix and validates the JSON result with the Python schema, so the two cannot drift apart.
{
  # The typed options (or the same names as pure data): swapd, discord, searxng, google.
  cfg,
  # The `assistant` executable; the MCP tool servers are its `assistant mcp <name>` subcommands.
  assistant,
  # Where this rendering of the file is installed (the tool servers read their own sections from it).
  configPath,
  # credential name -> the configured file (or null) -> the path written in this rendering. The unit's
  # copy keeps the root-only files (its LoadCredential copies win anyway); the copy users' `assistant
  # chat` reads names their own 0600 files under ~/.config/variet/ instead.
  secretFile ? (_: file: file),
  # For the systemd unit: its StateDirectory, where the Google token lives. The stdio tool servers start
  # with the SDK's minimal environment ($CREDENTIALS_DIRECTORY is passed on, $STATE_DIRECTORY is not), so
  # the path is written out. null for the copy users' `assistant chat` reads (their own state).
  stateDir ? null,
}:
let
  optional = cond: attrs: if cond then attrs else { };
  secret =
    key: name: file:
    optional (file != null) { ${key} = secretFile name file; };
  google = cfg.google;
  usesGoogle = google.calendar.enable || google.gmail.enable;

  toolServer = name: {
    command = [
      assistant
      "mcp"
      name
      "--config"
      configPath
    ];
  };
in
{
  llm =
    {
      url = cfg.swapd.url;
      tier = cfg.swapd.tier;
    }
    // secret "api_key_file" "swapd-api-key" cfg.swapd.apiKeyFile
    // secret "admin_token_file" "swapd-admin-token" cfg.swapd.adminTokenFile;

  mcp.servers =
    { searxng = toolServer "searxng"; }
    // optional google.calendar.enable { calendar = toolServer "calendar"; }
    // optional google.gmail.enable { gmail = toolServer "gmail"; };

  searxng.url = cfg.searxng.url;

  google =
    (if usesGoogle then secret "client_secret_file" "google-client-secret" google.clientSecretFile else { })
    // optional (stateDir != null) { state_dir = stateDir; };

  calendar = {
    enabled = google.calendar.enable;
    read_only = google.calendar.readOnly;
    timezone = google.calendar.timezone;
    allowed_attendees = google.calendar.allowedAttendees;
  };

  gmail = {
    enabled = google.gmail.enable;
    read_only = google.gmail.readOnly;
    send = google.gmail.send;
    labels = google.gmail.labels;
    allowed_recipients = google.gmail.allowedRecipients;
  };

}
# Only with the bot on, so a machine without it does not depend on the [discord] section.
// optional cfg.discord.enable {
  discord =
    {
      owner_ids = cfg.discord.ownerIds;
      channel_ids = cfg.discord.channelIds;
    }
    // secret "token_file" "discord-token" cfg.discord.tokenFile
    // optional (cfg.discord.guildId != null) { guild_id = cfg.discord.guildId; };
}
