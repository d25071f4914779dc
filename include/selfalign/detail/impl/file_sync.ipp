// selfalign: definitions for <selfalign/detail/file_sync.hpp> (operating-system calls)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/file_sync.hpp>

#include <cerrno>
#include <cstdlib>

#ifdef _WIN32
#include <io.h>
#include <process.h>
#include <stdio.h>
#else
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#endif

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

SELFALIGN_DECL bool sync_file(std::FILE* f) noexcept {
  if (std::fflush(f) != 0) return false;
#ifdef _WIN32
  return ::_commit(::_fileno(f)) == 0;
#else
  return ::fsync(::fileno(f)) == 0;
#endif
}

SELFALIGN_DECL long current_process_id() noexcept {
#ifdef _WIN32
  return static_cast<long>(::_getpid());
#else
  return static_cast<long>(::getpid());
#endif
}

SELFALIGN_DECL bool process_may_exist(long pid) noexcept {
#ifdef _WIN32
  (void)pid;
  return true;
#else
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
#endif
}

SELFALIGN_DECL void remove_file_now(const char* path) noexcept {
#ifdef _WIN32
  ::_unlink(path);
#else
  ::unlink(path);
#endif
}

SELFALIGN_DECL std::string host_name() {
#ifdef _WIN32
  const char* name = std::getenv("COMPUTERNAME");  // gethostname would need Winsock initialised
  return name ? name : "";
#else
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return {};
  return host;
#endif
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
