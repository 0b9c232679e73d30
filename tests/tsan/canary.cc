// A deliberate data race. Under ThreadSanitizer this program must be
// reported and exit non-zero; tests/tsan/canary_test.sh checks that, which
// proves TSan is really watching the suite it runs.

#include <cstdio>
#include <thread>

int shared = 0;  // written by two threads without synchronisation

int main() {
  std::thread a([] {
    for (int i = 0; i < 100000; ++i) ++shared;
  });
  std::thread b([] {
    for (int i = 0; i < 100000; ++i) ++shared;
  });
  a.join();
  b.join();
  std::printf("%d\n", shared);
  return 0;
}
