using System.Globalization;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Parsing;

namespace Bastion.Daemon.Logging;

/// <summary>
/// One event per line, exceptions included (journald and grep see one record per event). Under systemd
/// (<c>JOURNAL_STREAM</c> set) each line starts with a syslog priority prefix like <c>&lt;4&gt;</c> and omits the
/// timestamp, which the journal adds; elsewhere it starts with a UTC timestamp.
/// </summary>
public sealed class OneLineTextFormatter(bool journald) : ITextFormatter
{
    public void Format(LogEvent logEvent, TextWriter output)
    {
        if (journald)
        {
            output.Write('<');
            output.Write(Priority(logEvent.Level).ToString(CultureInfo.InvariantCulture));
            output.Write('>');
        }
        else
        {
            output.Write(logEvent.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            output.Write(' ');
        }
        output.Write(Level(logEvent.Level));
        output.Write(' ');
        if (logEvent.Properties.TryGetValue("SourceContext", out var source) && source is ScalarValue { Value: string name })
        {
            output.Write(ShortName(name));
            output.Write(": ");
        }
        output.Write(OneLine(RenderMessage(logEvent)));
        if (logEvent.Exception is { } exception)
        {
            output.Write(" | ");
            output.Write(OneLine(exception.ToString()));
        }
        output.Write('\n');
    }

    /// <summary>
    /// Renders the template with string values as they are: Serilog's default quotes them
    /// (<c>"check/sshd"</c>), which reads badly and defeats grep.
    /// </summary>
    private static string RenderMessage(LogEvent logEvent)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        foreach (var token in logEvent.MessageTemplate.Tokens)
        {
            switch (token)
            {
                case TextToken text:
                    writer.Write(text.Text);
                    break;
                case PropertyToken property when logEvent.Properties.TryGetValue(property.PropertyName, out var value):
                    if (value is ScalarValue { Value: string raw })
                    {
                        writer.Write(raw);
                    }
                    else
                    {
                        value.Render(writer, property.Format, CultureInfo.InvariantCulture);
                    }
                    break;
                default:
                    writer.Write(token.ToString());
                    break;
            }
        }
        return writer.ToString();
    }

    /// <summary>syslog priorities: 3 err, 4 warning, 6 info, 7 debug.</summary>
    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,
        LogEventLevel.Error => 3,
        LogEventLevel.Warning => 4,
        LogEventLevel.Information => 6,
        _ => 7,
    };

    private static string Level(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose => "TRC",
        LogEventLevel.Debug => "DBG",
        LogEventLevel.Information => "INF",
        LogEventLevel.Warning => "WRN",
        LogEventLevel.Error => "ERR",
        _ => "FTL",
    };

    private static string ShortName(string sourceContext) =>
        sourceContext.StartsWith("Bastion.", StringComparison.Ordinal) ? sourceContext["Bastion.".Length..] : sourceContext;

    private static string OneLine(string text) =>
        text.Contains('\n', StringComparison.Ordinal) || text.Contains('\r', StringComparison.Ordinal)
            ? text.ReplaceLineEndings(" | ")
            : text;
}
