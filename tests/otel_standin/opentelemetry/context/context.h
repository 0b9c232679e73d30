// Stand-in (tests/otel_standin/README.md): an empty context.
#pragma once
namespace opentelemetry {
namespace context {
class Context {};
}  // namespace context
}  // namespace opentelemetry
