// Stand-in (tests/otel_standin/README.md).
#pragma once
#include <memory>
namespace opentelemetry {
namespace nostd {
template <class T>
using unique_ptr = std::unique_ptr<T>;
}  // namespace nostd
}  // namespace opentelemetry
