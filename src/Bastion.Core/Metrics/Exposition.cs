using System.Globalization;
using System.Text;

namespace Bastion.Metrics;

public enum MetricType { Gauge, Counter }

/// <summary>The two formats Prometheus scrapes: its text format 0.0.4, or OpenMetrics 1.0.0 when the scraper asks for it.</summary>
public enum ExpositionFormat { PrometheusText, OpenMetrics }

/// <summary>One time series of a family: its labels (in order) and its value.</summary>
public readonly record struct Sample(IReadOnlyList<KeyValuePair<string, string>> Labels, double Value);

/// <summary>
/// A metric family: name, type, help and its samples. Counter names end in <c>_total</c> (the text format's
/// convention); the OpenMetrics writer drops the suffix from the family's metadata, as that format requires.
/// </summary>
public sealed class MetricFamily
{
    private readonly List<Sample> _samples = [];

    public MetricFamily(string name, MetricType type, string help)
    {
        if (!MetricNames.IsValidMetricName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid metric name", nameof(name));
        }
        if (type == MetricType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            throw new ArgumentException($"counter '{name}' must end in _total", nameof(name));
        }
        Name = name;
        Type = type;
        Help = help;
    }

    public string Name { get; }
    public MetricType Type { get; }
    public string Help { get; }
    public IReadOnlyList<Sample> Samples => _samples;

    /// <summary>Adds a sample; label names are checked, values may be any text (they are escaped on output).</summary>
    public MetricFamily Add(double value, params ReadOnlySpan<(string Name, string Value)> labels)
    {
        var list = new KeyValuePair<string, string>[labels.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            if (!MetricNames.IsValidLabelName(labels[i].Name))
            {
                throw new ArgumentException($"'{labels[i].Name}' is not a valid label name", nameof(labels));
            }
            list[i] = new(labels[i].Name, labels[i].Value);
        }
        _samples.Add(new Sample(list, value));
        return this;
    }
}

/// <summary>The name rules of the exposition formats.</summary>
public static class MetricNames
{
    /// <summary><c>[a-zA-Z_:][a-zA-Z0-9_:]*</c></summary>
    public static bool IsValidMetricName(string name) => IsValid(name, allowColon: true);

    /// <summary><c>[a-zA-Z_][a-zA-Z0-9_]*</c>, and not starting with <c>__</c> (reserved).</summary>
    public static bool IsValidLabelName(string name) =>
        IsValid(name, allowColon: false) && !name.StartsWith("__", StringComparison.Ordinal);

    private static bool IsValid(string name, bool allowColon)
    {
        if (name.Length == 0)
        {
            return false;
        }
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' || (allowColon && c == ':') || (i > 0 && c is >= '0' and <= '9');
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>Writes metric families in the Prometheus text format 0.0.4 or OpenMetrics 1.0.0.</summary>
public static class Exposition
{
    public const string PrometheusTextContentType = "text/plain; version=0.0.4; charset=utf-8";
    public const string OpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    public static string ContentType(ExpositionFormat format) =>
        format == ExpositionFormat.OpenMetrics ? OpenMetricsContentType : PrometheusTextContentType;

    public static string Write(IEnumerable<MetricFamily> families, ExpositionFormat format)
    {
        var text = new StringBuilder(4096);
        foreach (var family in families)
        {
            Write(text, family, format);
        }
        if (format == ExpositionFormat.OpenMetrics)
        {
            text.Append("# EOF\n");
        }
        return text.ToString();
    }

    private static void Write(StringBuilder text, MetricFamily family, ExpositionFormat format)
    {
        var openMetrics = format == ExpositionFormat.OpenMetrics;
        // OpenMetrics names a counter family without its _total; its samples keep it.
        var familyName = openMetrics && family.Type == MetricType.Counter ? family.Name[..^"_total".Length] : family.Name;
        text.Append("# HELP ").Append(familyName).Append(' ');
        AppendEscaped(text, family.Help, escapeQuote: openMetrics);
        text.Append('\n');
        text.Append("# TYPE ").Append(familyName).Append(' ').Append(family.Type == MetricType.Counter ? "counter" : "gauge").Append('\n');
        foreach (var sample in family.Samples)
        {
            text.Append(family.Name);
            if (sample.Labels.Count > 0)
            {
                text.Append('{');
                for (var i = 0; i < sample.Labels.Count; i++)
                {
                    if (i > 0)
                    {
                        text.Append(',');
                    }
                    text.Append(sample.Labels[i].Key).Append("=\"");
                    AppendEscaped(text, sample.Labels[i].Value, escapeQuote: true);
                    text.Append('"');
                }
                text.Append('}');
            }
            text.Append(' ').Append(FormatValue(sample.Value)).Append('\n');
        }
    }

    /// <summary>Backslash, newline and (in label values, and OpenMetrics help) double quote are escaped; nothing else is.</summary>
    private static void AppendEscaped(StringBuilder text, string value, bool escapeQuote)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    text.Append(@"\\");
                    break;
                case '\n':
                    text.Append(@"\n");
                    break;
                case '"' when escapeQuote:
                    text.Append("\\\"");
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }
    }

    /// <summary>Integers without a fraction (byte counters stay exact up to 2^53), others round-trippable; +Inf, -Inf, NaN.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ when Math.Abs(value) < 9007199254740992d && value == Math.Floor(value) => ((long)value).ToString(CultureInfo.InvariantCulture),
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };
}
