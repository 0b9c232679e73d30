// The OpenTelemetry adapter of docs/metrics.md (examples/opentelemetry_metrics.h),
// compiled against the stand-in of OpenTelemetry's metrics API
// (tests/otel_standin) and fed by a TokenManager's and a shared refresher's
// instruments: the names, kinds, units and attributes an OpenTelemetry user
// gets, and the gauge's callback removed with its registration.

#include "examples/opentelemetry_metrics.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/metrics_recorder.h"

namespace authrefresh {
namespace {

namespace otel = opentelemetry::metrics;
using ::testing::ElementsAre;
using ::testing::Pair;

// Debian's Abseil has its own string_view; OpenTelemetry's nostd here is std's.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Attrs(const opentelemetry::common::KeyValueIterable& kv) {
  std::string out;
  kv.ForEachKeyValue([&](std::string_view k, opentelemetry::common::AttributeValue v) {
    absl::StrAppend(&out, out.empty() ? "" : ",", A(k), "=", A(std::get<std::string_view>(v)));
    return true;
  });
  return out;
}

// A Meter that records what is made and measured.
class FakeMeter : public otel::Meter {
 public:
  std::vector<std::string> made;  // "kind name unit: description"
  std::map<std::string, uint64_t> counted;  // "name{attrs}"
  std::map<std::string, std::vector<double>> recorded;
  std::vector<std::pair<otel::ObservableCallbackPtr, void*>> callbacks;

  std::unique_ptr<otel::Counter<uint64_t>> CreateUInt64Counter(
      std::string_view name, std::string_view description,
      std::string_view unit) noexcept override {
    made.push_back(absl::StrCat("counter ", A(name), " ", A(unit), ": ", A(description)));
    struct C : otel::Counter<uint64_t> {
      FakeMeter* m;
      std::string name;
      void Add(uint64_t v, const opentelemetry::common::KeyValueIterable& a,
               const opentelemetry::context::Context&) noexcept override {
        m->counted[absl::StrCat(name, "{", Attrs(a), "}")] += v;
      }
    };
    auto c = std::make_unique<C>();
    c->m = this;
    c->name = std::string(name);
    return c;
  }
  std::unique_ptr<otel::Histogram<double>> CreateDoubleHistogram(
      std::string_view name, std::string_view description,
      std::string_view unit) noexcept override {
    made.push_back(absl::StrCat("histogram ", A(name), " ", A(unit), ": ", A(description)));
    struct H : otel::Histogram<double> {
      FakeMeter* m;
      std::string name;
      void Record(double v, const opentelemetry::common::KeyValueIterable& a,
                  const opentelemetry::context::Context&) noexcept override {
        m->recorded[absl::StrCat(name, "{", Attrs(a), "}")].push_back(v);
      }
    };
    auto h = std::make_unique<H>();
    h->m = this;
    h->name = std::string(name);
    return h;
  }
  std::shared_ptr<otel::ObservableInstrument> CreateDoubleObservableGauge(
      std::string_view name, std::string_view description,
      std::string_view unit) noexcept override {
    made.push_back(absl::StrCat("gauge ", A(name), " ", A(unit), ": ", A(description)));
    struct G : otel::ObservableInstrument {
      FakeMeter* m;
      void AddCallback(otel::ObservableCallbackPtr cb, void* state) noexcept override {
        m->callbacks.emplace_back(cb, state);
      }
      void RemoveCallback(otel::ObservableCallbackPtr cb, void* state) noexcept override {
        auto& all = m->callbacks;
        all.erase(std::remove(all.begin(), all.end(), std::make_pair(cb, state)), all.end());
      }
    };
    auto g = std::make_shared<G>();
    g->m = this;
    return g;
  }

  // One collection: every callback's observations, "value{attrs}".
  std::vector<std::string> Collect() {
    struct Result : otel::ObserverResultT<double> {
      std::vector<std::string>* out;
      void Observe(double v, const opentelemetry::common::KeyValueIterable& a) noexcept override {
        out->push_back(absl::StrCat(v, "{", Attrs(a), "}"));
      }
    };
    std::vector<std::string> out;
    for (auto& [cb, state] : callbacks) {
      auto r = std::make_shared<Result>();
      r->out = &out;
      cb(otel::ObserverResult(std::shared_ptr<otel::ObserverResultT<double>>(r)), state);
    }
    return out;
  }
};

TEST(OpenTelemetryAdapter, EveryInstrumentArrivesWithItsNameKindUnitAndAttributes) {
  auto meter = std::make_shared<FakeMeter>();
  auto sink = std::make_shared<OpenTelemetryMetrics>(meter);
  std::optional<double> expires_in = 42.5;
  {
    internal::ManagerMetrics manager({sink, "orders"});
    internal::SharedMetrics shared({sink, "orders"});
    auto gauge = manager.ObserveExpiry([&] { return expires_in; });
    // Every instrument of the table, made at least once, with its kind and unit.
    for (const MetricInstrument* i : metric::kAll) {
      const char* kind = i->kind == MetricInstrument::Kind::kCounter     ? "counter"
                         : i->kind == MetricInstrument::Kind::kHistogram ? "histogram"
                                                                         : "gauge";
      EXPECT_THAT(meter->made, ::testing::Contains(absl::StrCat(kind, " ", i->name, " ", i->unit,
                                                                ": ", i->description)));
    }
    manager.RefreshEnded(internal::ManagerMetrics::Outcome::kSuccess, true,
                         absl::Milliseconds(20));
    manager.CallReplayed();
    manager.CallReplayed();
    shared.BackendError(absl::UnavailableError("down"));
    EXPECT_THAT(meter->counted,
                ElementsAre(Pair("authrefresh.call.replayed{credential=orders}", 2),
                            Pair("authrefresh.refresh.count{credential=orders,outcome=success,"
                                 "reason=proactive}",
                                 1),
                            Pair("authrefresh.shared.backend_error{credential=orders,kind="
                                 "unreachable}",
                                 1)));
    EXPECT_THAT(meter->recorded,
                ElementsAre(Pair("authrefresh.refresh.duration{credential=orders,outcome=success}",
                                 ElementsAre(0.02))));
    EXPECT_THAT(meter->Collect(), ElementsAre("42.5{credential=orders}"));
    expires_in.reset();
    EXPECT_THAT(meter->Collect(), ElementsAre());  // no value: nothing observed
  }
  EXPECT_TRUE(meter->callbacks.empty());  // removed with the registration
}

}  // namespace
}  // namespace authrefresh
