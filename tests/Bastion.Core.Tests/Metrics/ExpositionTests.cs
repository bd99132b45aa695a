using System.Text;
using Bastion.Metrics;

namespace Bastion.Tests.Metrics;

public sealed class ExpositionTests
{
    [Fact]
    public void The_text_format_writes_help_type_and_one_line_per_sample()
    {
        var family = new MetricFamily("bastion_component_up", MetricType.Gauge, "1 while up.")
            .Add(1, ("kind", "tunnel"), ("name", "db"))
            .Add(0, ("kind", "check"), ("name", "sshd"));

        var text = Exposition.Write([family], ExpositionFormat.PrometheusText);

        Assert.Equal("""
            # HELP bastion_component_up 1 while up.
            # TYPE bastion_component_up gauge
            bastion_component_up{kind="tunnel",name="db"} 1
            bastion_component_up{kind="check",name="sshd"} 0

            """.Replace("\r\n", "\n", StringComparison.Ordinal), text);
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_nothing_else()
    {
        var family = new MetricFamily("bastion_build_info", MetricType.Gauge, "help with \\ and\nnewline \"quoted\"")
            .Add(1, ("version", "a\\b\"c\nd é"));

        var text = Exposition.Write([family], ExpositionFormat.PrometheusText);

        Assert.Contains("# HELP bastion_build_info help with \\\\ and\\nnewline \"quoted\"\n", text, StringComparison.Ordinal);
        Assert.Contains("bastion_build_info{version=\"a\\\\b\\\"c\\nd é\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenMetrics_names_a_counter_family_without_total_escapes_quotes_in_help_and_ends_with_eof()
    {
        var family = new MetricFamily("bastion_tunnel_bytes_total", MetricType.Counter, "say \"bytes\"")
            .Add(42, ("name", "db"), ("direction", "in"));

        var text = Exposition.Write([family], ExpositionFormat.OpenMetrics);

        Assert.Equal(
            "# HELP bastion_tunnel_bytes say \\\"bytes\\\"\n" +
            "# TYPE bastion_tunnel_bytes counter\n" +
            "bastion_tunnel_bytes_total{name=\"db\",direction=\"in\"} 42\n" +
            "# EOF\n", text);
    }

    [Theory]
    [InlineData(0d, "0")]
    [InlineData(1234567890123d, "1234567890123")]
    [InlineData(-3d, "-3")]
    [InlineData(0.25d, "0.25")]
    [InlineData(1764979200.5d, "1764979200.5")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_are_written_exactly_in_invariant_culture(double value, string expected)
    {
        Assert.Equal(expected, Exposition.FormatValue(value));
    }

    [Theory]
    [InlineData("bastion_up", true)]
    [InlineData("ns:bastion_up", true)]
    [InlineData("_x", true)]
    [InlineData("1abc", false)]
    [InlineData("bastion-up", false)]
    [InlineData("", false)]
    [InlineData("bastion_ü", false)]
    public void Metric_names_follow_the_format(string name, bool valid)
    {
        Assert.Equal(valid, MetricNames.IsValidMetricName(name));
    }

    [Theory]
    [InlineData("name", true)]
    [InlineData("__name__", false)]
    [InlineData("a:b", false)]
    [InlineData("9x", false)]
    public void Label_names_follow_the_format_and_double_underscore_is_reserved(string name, bool valid)
    {
        Assert.Equal(valid, MetricNames.IsValidLabelName(name));
    }

    [Fact]
    public void A_counter_without_total_or_a_bad_label_is_a_programming_error()
    {
        Assert.Throws<ArgumentException>(() => new MetricFamily("bastion_bytes", MetricType.Counter, "h"));
        Assert.Throws<ArgumentException>(() => new MetricFamily("bastion_x", MetricType.Gauge, "h").Add(1, ("bad-label", "v")));
    }

    [Fact]
    public void The_content_types_are_the_ones_prometheus_negotiates()
    {
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", Exposition.ContentType(ExpositionFormat.PrometheusText));
        Assert.Equal("application/openmetrics-text; version=1.0.0; charset=utf-8", Exposition.ContentType(ExpositionFormat.OpenMetrics));
    }
}

public sealed class MetricsHttpTests
{
    private static MetricsRequest Parse(string head) => MetricsHttp.Parse(Encoding.ASCII.GetBytes(head));

    // What Prometheus 2.42 sends (scrape.go's acceptHeader).
    private const string PrometheusAccept =
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    [Fact]
    public void Get_metrics_is_served_and_prometheus_gets_openmetrics()
    {
        var request = Parse($"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {PrometheusAccept}\r\n\r\n");

        Assert.Equal(new MetricsRequest(MetricsRoute.Metrics, ExpositionFormat.OpenMetrics), request);
    }

    [Fact]
    public void Without_an_accept_header_the_text_format_is_served_and_a_query_string_is_ignored()
    {
        Assert.Equal(new MetricsRequest(MetricsRoute.Metrics, ExpositionFormat.PrometheusText), Parse("GET /metrics?x=1 HTTP/1.0\r\n\r\n"));
    }

    [Theory]
    [InlineData("text/plain;version=0.0.4", ExpositionFormat.PrometheusText)]
    [InlineData("*/*", ExpositionFormat.PrometheusText)]
    [InlineData("application/openmetrics-text", ExpositionFormat.OpenMetrics)]
    [InlineData("application/openmetrics-text;version=0.0.1", ExpositionFormat.PrometheusText)]
    [InlineData("application/openmetrics-text;version=1.0.0;q=0", ExpositionFormat.PrometheusText)]
    [InlineData("text/plain;q=1, application/openmetrics-text;q=0.5", ExpositionFormat.PrometheusText)]
    [InlineData("text/plain;q=0.2, application/openmetrics-text;q=0.9", ExpositionFormat.OpenMetrics)]
    [InlineData("garbage;;;=,", ExpositionFormat.PrometheusText)]
    public void The_format_follows_the_accept_header(string accept, ExpositionFormat expected)
    {
        Assert.Equal(expected, MetricsHttp.ChooseFormat(accept));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", MetricsRoute.NotFound)]
    [InlineData("GET /metrics/ HTTP/1.1\r\n\r\n", MetricsRoute.NotFound)]
    [InlineData("GET /status.json HTTP/1.1\r\n\r\n", MetricsRoute.NotFound)]
    [InlineData("POST /metrics HTTP/1.1\r\n\r\n", MetricsRoute.MethodNotAllowed)]
    [InlineData("HEAD /metrics HTTP/1.1\r\n\r\n", MetricsRoute.MethodNotAllowed)]
    [InlineData("get /metrics HTTP/1.1\r\n\r\n", MetricsRoute.MethodNotAllowed)]
    [InlineData("GET /metrics\r\n\r\n", MetricsRoute.BadRequest)]
    [InlineData("GET /metrics SSH-2.0\r\n\r\n", MetricsRoute.BadRequest)]
    [InlineData("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", MetricsRoute.BadRequest)]
    [InlineData("GET /metrics HTTP/1.1\r\nX: \u0001\r\n\r\n", MetricsRoute.BadRequest)]
    public void Anything_but_get_metrics_is_refused_with_the_right_class(string head, MetricsRoute expected)
    {
        Assert.Equal(expected, Parse(head).Route);
    }

    [Fact]
    public void A_head_over_the_limit_is_refused_as_too_large()
    {
        var head = "GET /metrics HTTP/1.1\r\nX: " + new string('a', MetricsHttp.MaxRequestHeadBytes) + "\r\n\r\n";

        Assert.Equal(MetricsRoute.HeadTooLarge, Parse(head).Route);
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\r\n", -1)]
    [InlineData("GET /metrics HTTP/1.1\r\n\r\n", 25)]
    [InlineData("GET /metrics HTTP/1.1\n\n", 23)]
    [InlineData("GET /metrics HTTP/1.1\r\n\r\nGET", 25)]
    public void The_head_ends_at_the_first_blank_line(string received, int expected)
    {
        Assert.Equal(expected, MetricsHttp.HeadLength(Encoding.ASCII.GetBytes(received)));
    }

    [Fact]
    public void A_response_has_content_length_and_closes_the_connection()
    {
        var text = Encoding.UTF8.GetString(MetricsHttp.Response(200, "text/plain", "é\n"));

        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\né\n", text);
    }

    [Fact]
    public void A_wrong_method_is_told_which_one_is_allowed()
    {
        var text = Encoding.UTF8.GetString(MetricsHttp.Refusal(MetricsRoute.MethodNotAllowed));

        Assert.StartsWith("HTTP/1.1 405 Method Not Allowed\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Allow: GET\r\n", text, StringComparison.Ordinal);
    }
}
