// Stand-in (tests/otel_standin/README.md): nostd as the standard library.
#pragma once
#include <string_view>
namespace opentelemetry {
namespace nostd {
using std::string_view;
}  // namespace nostd
}  // namespace opentelemetry
