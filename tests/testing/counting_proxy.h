// A TCP forwarder on 127.0.0.1 that counts the bytes clients send through
// it, so that a test can see what goes out on the wire (compression).

#ifndef AUTHREFRESH_TESTS_TESTING_COUNTING_PROXY_H_
#define AUTHREFRESH_TESTS_TESTING_COUNTING_PROXY_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace authrefresh {
namespace testing {

// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
int UnusedPort();

class CountingProxy {
 public:
  // Forwards every connection to `target_port` on 127.0.0.1.
  explicit CountingProxy(int target_port);
  // Closes every connection and joins the forwarding threads.
  ~CountingProxy();
  CountingProxy(const CountingProxy&) = delete;
  CountingProxy& operator=(const CountingProxy&) = delete;

  std::string address() const;
  // Bytes clients sent so far.
  int64_t client_bytes() const { return client_bytes_.load(); }

 private:
  void AcceptLoop();
  void Pump(int from, int to, bool count);

  const int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int64_t> client_bytes_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<int> sockets_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_COUNTING_PROXY_H_
