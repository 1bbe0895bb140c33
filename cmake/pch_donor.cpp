// The translation unit that compiles a precompiled header (cmake/PrecompiledHeaders.cmake): the
// header is all it needs, so it has no code of its own.
