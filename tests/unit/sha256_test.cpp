#include <doctest/doctest.h>
#include <selfalign/cache/sha256.hpp>

#include <string>

using selfalign::sha256;

// The FIPS 180-2 / NIST CSHA test vectors (Appendix B), plus a length that crosses the padding boundary.
TEST_CASE("sha256 reproduces the FIPS 180-2 test vectors" * doctest::test_suite("cache")) {
  CHECK(sha256::hex(sha256::of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256::hex(sha256::of("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256::hex(sha256::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256::hex(sha256::of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")) ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  // One million 'a', fed in uneven pieces (the incremental path).
  sha256 h;
  const std::string chunk(997, 'a');
  std::size_t left = 1000000;
  while (left > 0) {
    const std::size_t n = left < chunk.size() ? left : chunk.size();
    h.update(std::string_view(chunk).substr(0, n));
    left -= n;
  }
  CHECK(sha256::hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(sha256::hex(sha256::of(std::string(55, 'x'))) != sha256::hex(sha256::of(std::string(56, 'x'))));
  CHECK(sha256::hex(sha256::of("abc"), 4) == "ba7816bf");
  CHECK(sha256::prefix64(sha256::of("abc")) == 0xba7816bf8f01cfeaULL);
}
