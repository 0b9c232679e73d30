#include "tests/testing/node_process.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

extern char** environ;

namespace authrefresh {
namespace testing {
namespace {

std::string FindNode() {
  for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    std::string candidate = absl::StrCat(dir, "/node");
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The script in the runfiles; its real path leads to the source tree (where
// bazel/setup.sh ran `npm ci` for scripts that need packages).
std::string FindScript(const std::string& script) {
  const char* srcdir = getenv("TEST_SRCDIR");
  std::string path = absl::StrCat(srcdir ? srcdir : ".", "/authrefresh/", script);
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return "";
  return resolved;
}

}  // namespace

std::unique_ptr<NodeProcess> NodeProcess::Start(const std::string& script,
                                                std::vector<std::string> args) {
  const std::string node = FindNode();
  const std::string path = FindScript(script);
  if (node.empty() || path.empty()) {
    ADD_FAILURE() << "node (" << (node.empty() ? "missing" : node) << ") or "
                  << script << " (" << (path.empty() ? "missing" : path)
                  << ") not found: run `bash bazel/setup.sh`";
    return nullptr;
  }
  args.insert(args.begin(), {node, path});
  return Spawn(node, path, std::move(args));
}

std::unique_ptr<NodeProcess> NodeProcess::StartExecutable(const std::string& executable,
                                                          std::vector<std::string> args) {
  const std::string path = FindScript(executable);
  if (path.empty()) {
    ADD_FAILURE() << executable << " not found in the runfiles";
    return nullptr;
  }
  args.insert(args.begin(), path);
  return Spawn(path, path, std::move(args));
}

std::unique_ptr<NodeProcess> NodeProcess::Spawn(const std::string& program,
                                                const std::string& path,
                                                std::vector<std::string> args) {
  std::unique_ptr<NodeProcess> p(new NodeProcess());
  p->dir_ = path.substr(0, path.rfind('/'));
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed: " << errno;
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&p->pid_, program.c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  p->stdin_fd_ = in[1];
  p->stdout_fd_ = out[0];
  if (rc != 0) {
    p->pid_ = -1;
    ADD_FAILURE() << "posix_spawn(" << program << ") failed: " << rc;
    return nullptr;
  }
  std::string line;
  if (!p->ReadLine(&line, 20000) ||
      !google::protobuf::util::JsonStringToMessage(line, &p->hello_).ok()) {
    ADD_FAILURE() << path << " did not start (see its stderr above)";
    return nullptr;
  }
  return p;
}

NodeProcess::~NodeProcess() {
  if (stdin_fd_ >= 0) close(stdin_fd_);  // the script exits when stdin closes
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (pid_ > 0) {
    kill(pid_, SIGCONT);  // in case a test stopped it
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void NodeProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int NodeProcess::port() const {
  auto it = hello_.fields().find("port");
  return it == hello_.fields().end() ? 0 : static_cast<int>(it->second.number_value());
}

bool NodeProcess::ReadLine(std::string* line, int timeout_ms) {
  pollfd pfd{stdout_fd_, POLLIN, 0};
  while (buffered_.find('\n') == std::string::npos) {
    if (poll(&pfd, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffered_.append(buf, static_cast<size_t>(n));
  }
  const size_t nl = buffered_.find('\n');
  *line = buffered_.substr(0, nl);
  buffered_.erase(0, nl + 1);
  return true;
}

google::protobuf::Struct NodeProcess::Command(const std::string& command) {
  google::protobuf::Struct answer;
  const std::string out = command + "\n";
  if (write(stdin_fd_, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    ADD_FAILURE() << "writing to the node process failed: " << errno;
    return answer;
  }
  std::string line;
  EXPECT_TRUE(ReadLine(&line, 20000) &&
              google::protobuf::util::JsonStringToMessage(line, &answer).ok())
      << "the node process did not answer " << command;
  return answer;
}

}  // namespace testing
}  // namespace authrefresh
