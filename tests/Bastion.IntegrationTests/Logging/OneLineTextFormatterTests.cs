using Bastion.Daemon.Logging;
using Serilog.Events;
using Serilog.Parsing;

namespace Bastion.IntegrationTests.Logging;

public sealed class OneLineTextFormatterTests
{
    private static readonly DateTimeOffset T = new(2026, 11, 23, 1, 2, 3, 456, TimeSpan.Zero);

    private static string Format(bool journald, LogEventLevel level, string template, Exception? exception = null, params (string Name, object Value)[] properties)
    {
        var parsed = new MessageTemplateParser().Parse(template);
        var props = properties.Select(p => new LogEventProperty(p.Name, new ScalarValue(p.Value)))
            .Append(new LogEventProperty("SourceContext", new ScalarValue("Bastion.Component.check")));
        var e = new LogEvent(T, level, exception, parsed, props);
        using var writer = new StringWriter();
        new OneLineTextFormatter(journald).Format(e, writer);
        return writer.ToString();
    }

    [Fact]
    public void An_exception_with_a_stack_trace_stays_on_the_line_of_its_event()
    {
        Exception caught;
        try
        {
            throw new InvalidOperationException("outer", new IOException("line one\nline two"));
        }
        catch (InvalidOperationException e)
        {
            caught = e;
        }
        var line = Format(journald: true, LogEventLevel.Error, "{Component}: attempt crashed", caught, ("Component", "check/sshd"));
        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        Assert.Equal(1, line.Count(c => c == '\n'));
        Assert.DoesNotContain('\r', line);
        Assert.StartsWith("<3>ERR Component.check: check/sshd: attempt crashed | System.InvalidOperationException: outer", line, StringComparison.Ordinal);
        Assert.Contains("line one | line two", line, StringComparison.Ordinal);
        Assert.Contains(nameof(An_exception_with_a_stack_trace_stays_on_the_line_of_its_event), line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_peer_supplied_newline_in_a_value_cannot_forge_a_second_log_line()
    {
        var line = Format(journald: false, LogEventLevel.Warning, "{Component}: {Reason}", null,
            ("Component", "check/web"), ("Reason", "unexpected banner\n<3>ERR forged"));
        Assert.Equal("2026-11-23T01:02:03.456Z WRN Component.check: check/web: unexpected banner | <3>ERR forged\n", line);
    }

    [Theory]
    [InlineData(LogEventLevel.Verbose, "<7>TRC")]
    [InlineData(LogEventLevel.Debug, "<7>DBG")]
    [InlineData(LogEventLevel.Information, "<6>INF")]
    [InlineData(LogEventLevel.Warning, "<4>WRN")]
    [InlineData(LogEventLevel.Error, "<3>ERR")]
    [InlineData(LogEventLevel.Fatal, "<2>FTL")]
    public void Journald_lines_carry_the_syslog_priority_of_their_level(LogEventLevel level, string prefix)
    {
        Assert.StartsWith(prefix + " ", Format(journald: true, level, "x"), StringComparison.Ordinal);
    }
}
