// authrefresh's metrics on an OpenTelemetry Meter (docs/metrics.md shows
// this file; CI compiles it against tests/otel_standin). Copy it into your
// project:  options.metrics = {std::make_shared<OpenTelemetryMetrics>(meter), "orders-api"};
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "interceptor/metrics.h"
#include "opentelemetry/common/key_value_iterable_view.h"
#include "opentelemetry/context/context.h"
#include "opentelemetry/metrics/async_instruments.h"
#include "opentelemetry/metrics/meter.h"
#include "opentelemetry/metrics/sync_instruments.h"

class OpenTelemetryMetrics : public authrefresh::MetricsSink {
 public:
  using Meter = opentelemetry::nostd::shared_ptr<opentelemetry::metrics::Meter>;
  explicit OpenTelemetryMetrics(Meter meter) : meter_(std::move(meter)) {}

  std::unique_ptr<Counter> MakeCounter(const authrefresh::MetricInstrument& i,
                                       const authrefresh::MetricAttributes& a) override {
    struct C : Counter {
      opentelemetry::nostd::unique_ptr<opentelemetry::metrics::Counter<uint64_t>> otel;
      Attributes attributes;
      void Add(uint64_t v) override { otel->Add(v, View(attributes), {}); }
    };
    auto c = std::make_unique<C>();
    c->otel = meter_->CreateUInt64Counter(S(i.name), S(i.description), S(i.unit));
    c->attributes = Attributes(a.begin(), a.end());
    return c;
  }

  std::unique_ptr<Histogram> MakeHistogram(const authrefresh::MetricInstrument& i,
                                           const authrefresh::MetricAttributes& a) override {
    struct H : Histogram {
      opentelemetry::nostd::unique_ptr<opentelemetry::metrics::Histogram<double>> otel;
      Attributes attributes;
      void Record(double v) override { otel->Record(v, View(attributes), {}); }
    };
    auto h = std::make_unique<H>();  // buckets: the SDK's View (i.boundaries is a suggestion)
    h->otel = meter_->CreateDoubleHistogram(S(i.name), S(i.description), S(i.unit));
    h->attributes = Attributes(a.begin(), a.end());
    return h;
  }

  std::unique_ptr<Observation> ObserveGauge(const authrefresh::MetricInstrument& i,
                                            const authrefresh::MetricAttributes& a,
                                            Observer observer) override {
    struct G : Observation {
      opentelemetry::nostd::shared_ptr<opentelemetry::metrics::ObservableInstrument> otel;
      Attributes attributes;
      Observer observer;
      static void Observe(opentelemetry::metrics::ObserverResult result, void* self) {
        auto* g = static_cast<G*>(self);
        using Doubles = opentelemetry::nostd::shared_ptr<
            opentelemetry::metrics::ObserverResultT<double>>;
        if (auto v = g->observer()) {
          opentelemetry::nostd::get<Doubles>(result)->Observe(*v, View(g->attributes));
        }
      }
      ~G() override { otel->RemoveCallback(&Observe, this); }  // the SDK waits for a running one
    };
    auto g = std::make_unique<G>();
    g->otel = meter_->CreateDoubleObservableGauge(S(i.name), S(i.description), S(i.unit));
    g->attributes = Attributes(a.begin(), a.end());
    g->observer = std::move(observer);
    g->otel->AddCallback(&G::Observe, g.get());
    return g;
  }

 private:
  using Attributes = std::map<std::string, std::string>;
  static opentelemetry::common::KeyValueIterableView<Attributes> View(const Attributes& a) {
    return opentelemetry::common::KeyValueIterableView<Attributes>(a);
  }
  static opentelemetry::nostd::string_view S(absl::string_view s) { return {s.data(), s.size()}; }
  Meter meter_;
};
