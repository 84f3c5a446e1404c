# services.variet.assistant: the assistant on Machine B: the Discord bot, its MCP tool servers
# (SearXNG, Google Calendar, Gmail) and a local SearXNG.
#
# Thin on purpose: typed options are rendered to assistant.toml (modules/render/assistant.nix) and checked
# at build time with `assistant check-config`; each long-running process gets one hardened unit. The tool
# servers are stdio children of the bot (`assistant mcp <name>`), so they share its unit and sandbox.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    mkPackageOption
    types
    ;

  cfg = config.services.variet.assistant;
  settingsFormat = pkgs.formats.toml { };
  unitName = "assistant-discord";
  stateDir = "/var/lib/variet-assistant";
  # Two renderings of one set of options: the unit's (credentials and state from systemd) and the one
  # users' `assistant chat` reads (their own 0600 files, their own state directory).
  serviceConfigPath = "/etc/variet/assistant-service.toml";
  userConfigPath = "/etc/variet/assistant.toml";

  render =
    args:
    import ./render/assistant.nix (
      {
        inherit cfg;
        assistant = lib.getExe' cfg.package "assistant";
      }
      // args
    );

  # RFC 42: `settings` is laid over what the options render (its keys win), then the whole file is
  # checked with the assistant's own validator at build time.
  checkedFile =
    name: rendered:
    pkgs.runCommand name
      {
        nativeBuildInputs = [ cfg.package ];
        unchecked = settingsFormat.generate "${name}-unchecked" (lib.recursiveUpdate rendered cfg.settings);
      }
      ''
        assistant check-config "$unchecked"
        cp "$unchecked" "$out"
      '';

  serviceConfigFile = checkedFile "assistant-service.toml" (render {
    configPath = serviceConfigPath;
    inherit stateDir;
  });
  userConfigFile = checkedFile "assistant.toml" (render {
    configPath = userConfigPath;
    secretFile = name: _: "~/.config/variet/${name}";
  });

  # Not a store path: a path literal such as `./token` would be copied into the world-readable store.
  secretFileType = types.nullOr types.externalPath;

  secretOption =
    what:
    mkOption {
      type = secretFileType;
      default = null;
      example = "/run/secrets/${what}";
      description = ''
        File holding the ${what} (root-only, e.g. from sops-nix or agenix). The service gets it through
        `LoadCredential`. Users' `assistant chat` (/etc/variet/assistant.toml) reads their own 0600 copy
        under `~/.config/variet/` instead, so a root-only file never has to be opened to them.
      '';
    };

  toolServers = [
    "searxng"
    "calendar"
    "gmail"
  ];
  googleClientSecret = cfg.google.clientSecretFile;
  credentials = lib.filterAttrs (_: file: file != null) {
    "swapd-api-key" = cfg.swapd.apiKeyFile;
    "swapd-admin-token" = cfg.swapd.adminTokenFile;
    "discord-token" = cfg.discord.tokenFile;
    "google-client-secret" = googleClientSecret;
    "google-token" = cfg.google.tokenFile;
  };

  # The same sandbox for every unit this module starts.
  hardening = import ./hardening.nix;

  # Every assistant unit: one dynamic user and state directory (the Google token), its credentials.
  unitBase = hardening // {
    Type = "exec";
    Restart = "on-failure";
    RestartSec = "10s";
    DynamicUser = true;
    User = "variet-assistant";
    StateDirectory = "variet-assistant";
    StateDirectoryMode = "0700";
    LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") credentials;
  };

  # `assistant auth google` once, as the service's own (dynamic) user, with its credentials and state
  # directory, so the token lands where the bot's tool servers look for it.
  authGoogle = pkgs.writeShellApplication {
    name = "variet-auth-google";
    runtimeInputs = [ config.systemd.package ];
    text = ''
      exec systemd-run --pty --wait --collect --quiet \
        --property=DynamicUser=yes --property=User=variet-assistant \
        --property=StateDirectory=variet-assistant --property=StateDirectoryMode=0700 \
        --property=LoadCredential=google-client-secret:${toString googleClientSecret} \
        ${lib.getExe' cfg.package "assistant"} auth google --config ${serviceConfigPath} "$@"
    '';
  };
in
{
  options.services.variet.assistant = {
    enable = mkEnableOption "the Variet assistant (`assistant chat`, the Discord bot, the MCP tool servers)";

    package = mkPackageOption pkgs "variet" { };

    swapd = {
      url = mkOption {
        type = types.str;
        example = "http://machine-a:8080";
        description = ''
          swapd's LAN port on Machine A (the OpenAI-compatible proxy and `/swapd/*`). A host name in it
          must resolve on this machine: declare it in `networking.hosts` (hosts/machine-b.nix does).
        '';
      };
      tier = mkOption {
        type = types.str;
        default = "auto";
        description = "The tier to ask for: `auto` (the active one), a tier name or an alias.";
      };
      apiKeyFile = secretOption "swapd API key";
      adminTokenFile = secretOption "swapd admin token (for `/tier` and `/status`)";
    };

    discord = {
      enable = mkEnableOption "the Discord bot (`assistant discord`) as a hardened service";
      tokenFile = secretOption "Discord bot token";
      ownerIds = mkOption {
        type = types.listOf types.ints.unsigned;
        default = [ ];
        description = "Discord user IDs the bot answers; everyone else is ignored.";
      };
      channelIds = mkOption {
        type = types.listOf types.ints.unsigned;
        default = [ ];
        description = "Guild channels where an @mention is answered (and threads under them); DMs always are.";
      };
      guildId = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        description = "The one server the bot serves besides DMs; messages from other servers are ignored (null: any).";
      };
    };

    searxng = {
      url = mkOption {
        type = types.str;
        default = "http://127.0.0.1:${toString cfg.searxng.local.port}";
        defaultText = lib.literalExpression ''"http://127.0.0.1:''${toString cfg.searxng.local.port}"'';
        description = "The SearXNG instance the `searxng` tool server queries (its JSON API).";
      };
      local = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Run SearXNG on this machine (`services.searx`), bound to loopback with JSON output on.";
        };
        port = mkOption {
          type = types.port;
          default = 8888;
          description = "The loopback port of the local SearXNG.";
        };
        environmentFile = mkOption {
          type = secretFileType;
          default = null;
          example = "/run/secrets/searx.env";
          description = ''
            `SEARX_SECRET_KEY=…` for the local SearXNG (`services.searx.environmentFile`); create it with
            `echo "SEARX_SECRET_KEY=$(openssl rand -hex 32)"`. It stays out of the store.
          '';
        };
      };
    };

    google = {
      clientSecretFile = secretOption "Google OAuth client JSON (a \"Desktop app\" client)";
      tokenFile = mkOption {
        type = secretFileType;
        default = null;
        description = ''
          A `google-token.json` made by `assistant auth google` elsewhere, handed to the units as the
          credential `google-token`. Unneeded when `variet-auth-google` writes the token into the
          service's own state directory.
        '';
      };
      calendar = {
        enable = mkEnableOption "the Google Calendar tool server";
        readOnly = mkOption {
          type = types.bool;
          default = true;
          description = "Only the read tools and the `calendar.readonly` scope.";
        };
        timezone = mkOption {
          type = types.str;
          default = if config.time.timeZone != null then config.time.timeZone else "UTC";
          defaultText = lib.literalExpression ''config.time.timeZone, or "UTC" when that is null'';
          description = "IANA timezone for times the model gives without an offset.";
        };
        allowedAttendees = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Addresses (`me@example.com`, or `@example.com` for a domain) events may invite.";
        };
      };
      gmail = {
        enable = mkEnableOption "the Gmail tool server";
        readOnly = mkOption {
          type = types.bool;
          default = true;
          description = ''
            Only the read tools and the `gmail.readonly` scope. The scopes asked for by
            `assistant auth google` follow `readOnly`, `send` and `labels`.
          '';
        };
        send = mkEnableOption "sending drafts (the `gmail.send` scope; needs readOnly = false)";
        labels = mkEnableOption "changing labels (the `gmail.modify` scope; needs readOnly = false)";
        allowedRecipients = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Who a draft may address; enforced inside the tool server. Empty: nobody.";
        };
      };
    };

    httpToolServers = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.port = mkOption {
            type = types.port;
            description = "The loopback port of this tool server's streamable HTTP endpoint.";
          };
        }
      );
      default = { };
      example = lib.literalExpression "{ searxng.port = 8701; }";
      description = ''
        Tool servers (`searxng`, `calendar`, `gmail`) to run as their own services on 127.0.0.1 over
        streamable HTTP, for MCP clients other than the assistant (the bot starts its own over stdio).
      '';
    };

    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = lib.literalExpression ''{ policy.tools."gmail__send_draft" = "confirm"; chat.max_steps = 12; }'';
      description = ''
        More of assistant.toml, in the RFC 42 style (see `assistant check-config --help`); it wins over
        what the options above render. No secrets: this file is in the world-readable store.
      '';
    };
  };

  config = mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = cfg.discord.enable -> cfg.discord.tokenFile != null && cfg.discord.ownerIds != [ ];
            message = "services.variet.assistant.discord needs tokenFile and at least one of ownerIds";
          }
          {
            assertion = (cfg.google.calendar.enable || cfg.google.gmail.enable) -> googleClientSecret != null;
            message = "services.variet.assistant.google: the Calendar and Gmail tools need clientSecretFile";
          }
          {
            assertion = cfg.searxng.local.enable -> cfg.searxng.local.environmentFile != null;
            message = "services.variet.assistant.searxng.local needs environmentFile (SEARX_SECRET_KEY=...)";
          }
          {
            assertion = lib.all (name: lib.elem name toolServers) (lib.attrNames cfg.httpToolServers);
            message = "services.variet.assistant.httpToolServers: the tool servers are ${lib.concatStringsSep ", " toolServers}";
          }
        ];

        environment.systemPackages = [ cfg.package ] ++ lib.optional (googleClientSecret != null) authGoogle;
        environment.etc."variet/assistant.toml".source = userConfigFile;
        environment.etc."variet/assistant-service.toml".source = serviceConfigFile;

        services.searx = mkIf cfg.searxng.local.enable {
          enable = true;
          environmentFile = cfg.searxng.local.environmentFile;
          settings = {
            server = {
              bind_address = "127.0.0.1";
              port = cfg.searxng.local.port;
              # Filled in from environmentFile by searx-init (envsubst) when it starts.
              secret_key = lib.mkDefault "$SEARX_SECRET_KEY";
              # Only this machine asks; the limiter would need a Redis/Valkey and blocks scripted clients.
              limiter = false;
              public_instance = false;
            };
            # The searxng tool server reads /search?format=json; SearXNG answers 403 without this.
            search.formats = [
              "html"
              "json"
            ];
          };
        };

        systemd.services.${unitName} = mkIf cfg.discord.enable {
          description = "Variet assistant: the Discord bot and its MCP tool servers";
          wantedBy = [ "multi-user.target" ];
          wants = [ "network-online.target" ];
          after = [ "network-online.target" ] ++ lib.optional cfg.searxng.local.enable "searx.service";
          restartTriggers = [ serviceConfigFile ];
          serviceConfig = unitBase // {
            ExecStart = "${lib.getExe' cfg.package "assistant"} discord --config ${serviceConfigPath}";
          };
        };
      }
      {
        systemd.services = lib.mapAttrs' (
          name: server:
          lib.nameValuePair "assistant-mcp-${name}" {
            description = "Variet's ${name} MCP tool server on 127.0.0.1:${toString server.port}";
            wantedBy = [ "multi-user.target" ];
            after = [ "network-online.target" ];
            wants = [ "network-online.target" ];
            restartTriggers = [ serviceConfigFile ];
            serviceConfig = unitBase // {
              ExecStart = "${lib.getExe' cfg.package "assistant"} mcp ${name} --transport http --port ${toString server.port} --config ${serviceConfigPath}";
            };
          }
        ) cfg.httpToolServers;
      }
    ]
  );
}
