# services.variet.swapd: swapd and its llama-server tiers on Machine A.
# Placeholder until the Nix issue fills it in; the options are declared there.
{ config, lib, ... }:
{
  options.services.variet.swapd.enable = lib.mkEnableOption "swapd, the llama-server tier swapper";
}
