#pragma once
#include <cstddef>
#include <string>

namespace ablo {

inline constexpr std::string_view kBase62Alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Cryptographically random base62 string (rejection-sampled, no modulo bias).
std::string random_base62(std::size_t length);
// Random UUID v4 in canonical lowercase form.
std::string random_uuid();
// "<prefix>_<random base62>" ids for server-made objects (req_, cap_, key_, ...).
std::string random_id(std::string_view prefix, std::size_t length = 20);

}  // namespace ablo
