// A Node.js script run by a test: started with `node <script> <args>`, it
// prints one JSON line when ready ({"port": N, ...}), answers one JSON line
// per command line written to its stdin, and exits when its stdin closes.

#ifndef AUTHREFRESH_TESTS_TESTING_NODE_PROCESS_H_
#define AUTHREFRESH_TESTS_TESTING_NODE_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"

namespace authrefresh {
namespace testing {

class NodeProcess {
 public:
  // `script` is a path under the runfiles' authrefresh/ (e.g.
  // "tests/h2_server/refusing.js"). Fails the test (ADD_FAILURE) and
  // returns null, saying what to run, when node or the script is missing.
  static std::unique_ptr<NodeProcess> Start(const std::string& script,
                                            std::vector<std::string> args);
  // The same protocol for a program of the runfiles (a cc_binary in `data`),
  // e.g. "tests/shared_replica".
  static std::unique_ptr<NodeProcess> StartExecutable(const std::string& executable,
                                                      std::vector<std::string> args);
  ~NodeProcess();

  // The ready line.
  const google::protobuf::Struct& hello() const { return hello_; }
  int port() const;
  // The directory the script is in (its real path, in the source tree).
  const std::string& dir() const { return dir_; }
  // Writes `command` and a newline; returns the JSON line it answers.
  google::protobuf::Struct Command(const std::string& command);
  // Its process id, for signals; -1 once killed.
  pid_t pid() const { return pid_; }
  // SIGKILL, and reaps it.
  void Kill();

 private:
  NodeProcess() = default;
  static std::unique_ptr<NodeProcess> Spawn(const std::string& program, const std::string& path,
                                            std::vector<std::string> args);
  bool ReadLine(std::string* line, int timeout_ms);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  std::string dir_;
  google::protobuf::Struct hello_;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_NODE_PROCESS_H_
