# services.variet.assistant: the Discord bot and MCP tool servers on Machine B.
# Placeholder until the Nix issue fills it in; the options are declared there.
{ config, lib, ... }:
{
  options.services.variet.assistant.enable = lib.mkEnableOption "the Variet assistant";
}
