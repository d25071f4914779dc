// selfalign: the few operating-system calls the library makes (flush a file to disk, process ids,
// remove a file from a signal handler, the host name), behind one header
// SPDX-License-Identifier: MIT
#pragma once

// Declarations only: <unistd.h> (or, on Windows, <io.h> and <process.h>) stays in the .ipp, so
// that no public header drags the POSIX names into a user's translation unit.

#include <selfalign/detail/prologue.hpp>

#include <cstdio>
#include <string>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Flushes the C stream and asks the OS to write the file to the device (fsync; _commit on
/// Windows). False when either step fails.
SELFALIGN_DECL bool sync_file(std::FILE* f) noexcept;

/// This process's id.
SELFALIGN_DECL long current_process_id() noexcept;

/// Whether a process with this id may still run: false only when the OS says there is none
/// (POSIX kill(pid, 0) failing with ESRCH). Windows answers true: the caller keeps the file.
SELFALIGN_DECL bool process_may_exist(long pid) noexcept;

/// Removes a file; async-signal-safe on POSIX (unlink(2)), so a fatal-signal handler may call it.
SELFALIGN_DECL void remove_file_now(const char* path) noexcept;

/// The machine's host name, or "" when the OS does not say.
SELFALIGN_DECL std::string host_name();

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/detail/impl/file_sync.ipp>
#endif
