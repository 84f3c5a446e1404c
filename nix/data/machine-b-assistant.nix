# Machine B's assistant, as pure data (no nixpkgs, no lib): hosts/machine-b.nix feeds it to
# services.variet.assistant, and tests/nix renders it and validates the result with the assistant's schema.
#
# FILL IN: your Discord user ID (Discord: Settings > Advanced > Developer Mode, then right-click your name
# > Copy User ID), the channel IDs where @mentions are answered, and your own addresses.
{
  swapd = {
    # Machine A by the name hosts/machine-b.nix declares (nix/data/lan.nix), on swapd's port.
    url = "http://machine-a:8080";
    tier = "auto";
    # Root-only files (README, "Deploy on NixOS"; with sops-nix or agenix, their paths instead). They reach
    # the service through LoadCredential; `assistant chat` reads your own copies in ~/.config/variet/.
    apiKeyFile = "/var/lib/secrets/variet/swapd-api-key";
    adminTokenFile = "/var/lib/secrets/variet/swapd-admin-token";
  };

  discord = {
    enable = true;
    tokenFile = "/var/lib/secrets/variet/discord-token";
    ownerIds = [ 100000000000000001 ]; # FILL IN: your Discord user ID
    channelIds = [ ]; # FILL IN: guild channels where @mentions are answered (DMs always are)
    guildId = null;
  };

  searxng = {
    url = "http://127.0.0.1:8888";
  };

  google = {
    clientSecretFile = "/var/lib/secrets/variet/google-client-secret";
    calendar = {
      enable = true;
      readOnly = false;
      timezone = "Europe/Berlin"; # FILL IN: your IANA timezone
      allowedAttendees = [ ];
    };
    gmail = {
      enable = true;
      # Read-only until you opt in: then `assistant auth google` asks for the compose/send scopes too.
      readOnly = true;
      send = false;
      labels = false;
      allowedRecipients = [ ];
    };
  };
}
