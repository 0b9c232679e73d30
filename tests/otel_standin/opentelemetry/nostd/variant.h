// Stand-in (tests/otel_standin/README.md).
#pragma once
#include <variant>
namespace opentelemetry {
namespace nostd {
using std::get;
using std::holds_alternative;
using std::variant;
}  // namespace nostd
}  // namespace opentelemetry
