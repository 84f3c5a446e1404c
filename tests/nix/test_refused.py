"""What NixOS refuses, refused here too, each with a message that says what to fix: a wrong type, an unknown
option, `null` in settings, a secret the store would copy, and a host without its hardware file, root file
system or boot loader (NixOS's own assertion texts)."""

import shutil
from pathlib import Path

import pytest
from nixeval import ROOT, evaluate, flake, needs_lib, refusal, system

pytestmark = needs_lib

TIER = 'tiers.fast = { model = "/srv/models/fast.gguf"; contextSize = 4096; vramMiB = 8192; }'
HOST = './hosts/hardware/machine-a.nix { networking.hostName = "t"; system.stateVersion = "25.11"; }'


def swapd(options: str) -> str:
    """A NixOS system running swapd with one tier plus `options` (Nix attribute definitions)."""
    return system(
        f'{HOST} {{ services.variet.swapd = {{ enable = true; defaultTier = "fast"; {TIER}; {options} }}; }}',
        ".system.build.toplevel.outPath",
    )


def test_a_port_given_as_a_string() -> None:
    error = refusal(swapd('port = "8080";'))

    assert (
        "A definition for option `services.variet.swapd.port' is not of type `16 bit unsigned integer"
        in error
    )
    assert '"8080"' in error


def test_discord_user_ids_given_as_strings() -> None:
    assistant = (
        '{ services.variet.assistant = { enable = true; swapd.url = "http://machine-a:8080"; '
        'searxng.local.enable = false; discord = { enable = true; tokenFile = "/run/discord-token"; '
        'ownerIds = [ "100000000000000001" ]; }; }; }'
    )
    error = refusal(system(f"{HOST} {assistant}", ".system.build.toplevel.outPath"))

    assert '`services.variet.assistant.discord.ownerIds."[definition 1-entry 1]"\' is not of type' in error


def test_an_unknown_tier_option() -> None:
    error = refusal(
        system(
            f'{HOST} {{ services.variet.swapd = {{ enable = true; defaultTier = "fast"; {TIER}; '
            "tiers.fast.ctxSize = 4096; }; }",
            ".system.build.toplevel.outPath",
        )
    )

    assert "The option `services.variet.swapd.tiers.fast.ctxSize' does not exist." in error


def test_a_misspelt_option() -> None:
    error = refusal(swapd('defaultTeir = "fast";'))

    assert "The option `services.variet.swapd.defaultTeir' does not exist." in error


@pytest.mark.parametrize("where", ["swapd", "tier"])
def test_null_in_settings(where: str) -> None:
    options = "settings.load_timeout_s = null;" if where == "swapd" else "tiers.fast.settings.x = null;"
    error = refusal(swapd(options))

    assert "is not of type `TOML value'" in error
    assert "Definition values:" in error and "null" in error


@pytest.mark.parametrize("value", ["./README.md", '"/nix/store/00000000000000000000000000000000-key"'])
def test_a_secret_the_store_would_hold(value: str) -> None:
    """issue 12: a path literal such as `./key` would have been copied into the world-readable store."""
    error = refusal(swapd(f"apiKeyFile = {value};"))

    assert (
        "A definition for option `services.variet.swapd.apiKeyFile' is not of type "
        "`null or absolute path not in the Nix store'"
    ) in error


def test_a_companion_named_like_a_tier_or_alias() -> None:
    companions = (
        'companions.fast = { model = "/srv/models/fim.gguf"; contextSize = 4096; vramMiB = 1024; }; '
        'companions.fim = { model = "/srv/models/fim.gguf"; contextSize = 4096; vramMiB = 1024; '
        'aliases = [ "small" ]; }; '
        'tiers.fast.aliases = [ "small" ];'
    )
    error = refusal(swapd(companions))

    assert (
        "- services.variet.swapd: fast, small names more than one tier or companion; "
        "each name and alias must be unique"
    ) in error


def test_an_assistant_secret_the_store_would_hold() -> None:
    assistant = (
        '{ services.variet.assistant = { enable = true; swapd.url = "http://machine-a:8080"; '
        "searxng.local.environmentFile = ./README.md; }; }"
    )
    error = refusal(system(f"{HOST} {assistant}", ".system.build.toplevel.outPath"))

    assert "`services.variet.assistant.searxng.local.environmentFile' is not of type" in error


def test_an_assistant_without_swapds_url() -> None:
    """issue 12: the URL defaulted to a host name nothing declared."""
    assistant = (
        '{ services.variet.assistant = { enable = true; searxng.local.environmentFile = "/run/s.env"; }; }'
    )
    error = refusal(system(f"{HOST} {assistant}", ".system.build.toplevel.outPath"))

    assert "The option `services.variet.assistant.swapd.url' was accessed but has no value defined." in error


def test_our_assertions_stop_the_build_with_their_messages() -> None:
    assistant = (
        '{ services.variet.assistant = { enable = true; swapd.url = "http://machine-a:8080"; '
        "discord.enable = true; google.gmail.enable = true; httpToolServers.web.port = 8701; }; }"
    )
    swapd_options = (
        '{ services.variet.swapd = { enable = true; defaultTier = "huge"; openFirewall = true; '
        f"{TIER}; }}; }}"
    )
    error = refusal(system(f"{HOST} {assistant} {swapd_options}", ".system.build.toplevel.outPath"))

    assert "Failed assertions:" in error
    for message in (
        "- services.variet.assistant.discord needs tokenFile and at least one of ownerIds",
        "- services.variet.assistant.google: the Calendar and Gmail tools need clientSecretFile",
        "- services.variet.assistant.searxng.local needs environmentFile (SEARX_SECRET_KEY=...)",
        "- services.variet.assistant.httpToolServers: the tool servers are searxng, calendar, gmail",
        "- services.variet.swapd.defaultTier is 'huge', but the tiers are: fast",
        "- services.variet.swapd.openFirewall opens the port on one interface only: "
        "set services.variet.swapd.lanInterface",
    ):
        assert message in error


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository whose hosts/ and flake.nix the test may change; the rest is linked."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in {"hosts", "flake.nix"}:
            continue
        (copy / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "hosts", copy / "hosts")
    shutil.copy(ROOT / "flake.nix", copy / "flake.nix")
    return copy


def toplevel(repo: Path, host: str) -> str:
    return flake(f".nixosConfigurations.{host}.config.system.build.toplevel.outPath", root=repo)


@pytest.mark.parametrize("host", ["machine-a", "machine-b"])
def test_a_missing_hardware_file(repo: Path, host: str) -> None:
    (repo / "hosts" / "hardware" / f"{host}.nix").unlink()

    error = refusal(toplevel(repo, host))

    assert (
        f"hosts/hardware/{host}.nix is missing: on {host} run `nixos-generate-config --show-hardware-config`"
        in error
    )


# What `nixos-generate-config --show-hardware-config` writes: file systems and modules, no boot loader.
GENERATED = """
{ config, lib, modulesPath, ... }:
{
  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];
  boot.initrd.availableKernelModules = [ "nvme" "xhci_pci" "ahci" "usbhid" "sd_mod" ];
  boot.kernelModules = [ "kvm-amd" ];
  %s
  swapDevices = [ ];
  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  hardware.cpu.amd.updateMicrocode = lib.mkDefault config.hardware.enableRedistributableFirmware;
}
"""
FILE_SYSTEMS = """
  fileSystems."/" = { device = "/dev/disk/by-uuid/0f9c3a52-1f0e-4f8e-9d0a-5a1d2c3b4e5f"; fsType = "ext4"; };
  fileSystems."/boot" = { device = "/dev/disk/by-uuid/1A2B-3C4D"; fsType = "vfat"; };
"""


def test_generated_hardware_without_the_boot_loader_lines(repo: Path) -> None:
    (repo / "hosts" / "hardware" / "machine-a.nix").write_text(GENERATED % FILE_SYSTEMS, encoding="utf-8")

    error = refusal(toplevel(repo, "machine-a"))

    assert (
        "- You must set the option ‘boot.loader.grub.devices’ or "
        "'boot.loader.grub.mirroredBoots' to make the system bootable."
    ) in error


def test_generated_hardware_with_the_boot_loader_lines_builds(repo: Path) -> None:
    boot = "boot.loader.systemd-boot.enable = true; boot.loader.efi.canTouchEfiVariables = true;"
    (repo / "hosts" / "hardware" / "machine-a.nix").write_text(
        GENERATED % (FILE_SYSTEMS + boot), encoding="utf-8"
    )

    assert evaluate(toplevel(repo, "machine-a")).endswith("-nixos-system-machine-a")


def test_hardware_without_a_root_file_system(repo: Path) -> None:
    boot = "boot.loader.systemd-boot.enable = true;"
    (repo / "hosts" / "hardware" / "machine-b.nix").write_text(GENERATED % boot, encoding="utf-8")

    error = refusal(toplevel(repo, "machine-b"))

    assert "- The ‘fileSystems’ option does not specify your root file system." in error
