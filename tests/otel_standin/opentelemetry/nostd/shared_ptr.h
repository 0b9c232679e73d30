// Stand-in (tests/otel_standin/README.md).
#pragma once
#include <memory>
namespace opentelemetry {
namespace nostd {
template <class T>
using shared_ptr = std::shared_ptr<T>;
}  // namespace nostd
}  // namespace opentelemetry
