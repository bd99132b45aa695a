using System.Globalization;

namespace Bastion.Tor;

/// <summary><c>650 HS_DESC Action HSAddress AuthType HsDir …</c> (control-spec 4.1.25).</summary>
public sealed record HsDescEvent(string Action, string Address, string? HsDir, string? Reason)
{
    public static HsDescEvent? TryParse(TorReply reply)
    {
        if (!reply.IsEvent || reply.Lines.IsEmpty)
        {
            return null;
        }
        var args = TorArguments.Parse(reply.Lines[0].Text);
        if (args.Word(0) != "HS_DESC" || args.Word(1) is not { } action || args.Word(2) is not { } address)
        {
            return null;
        }
        return new HsDescEvent(action, address, args.Word(4), args["REASON"]);
    }
}

/// <summary>Tor's bootstrap progress, from a <c>STATUS_CLIENT … BOOTSTRAP</c> event or <c>GETINFO status/bootstrap-phase</c>.</summary>
public sealed record BootstrapPhase(int Progress, string Tag, string Summary, string? Warning)
{
    public bool Done => Progress >= 100;

    /// <summary>Parses <c>NOTICE BOOTSTRAP PROGRESS=45 TAG=… SUMMARY="…"</c> (with or without the leading <c>STATUS_CLIENT</c>).</summary>
    public static BootstrapPhase? TryParse(string text)
    {
        var args = TorArguments.Parse(text);
        var offset = args.Word(0) == "STATUS_CLIENT" ? 1 : 0;
        if (args.Word(offset + 1) != "BOOTSTRAP"
            || !int.TryParse(args["PROGRESS"], NumberStyles.None, CultureInfo.InvariantCulture, out var progress)
            || progress is < 0 or > 100)
        {
            return null;
        }
        var severity = args.Word(offset);
        return new BootstrapPhase(progress, TorText.Printable(args["TAG"] ?? "", 40), TorText.Printable(args["SUMMARY"] ?? "", 120),
            severity == "WARN" ? TorText.Printable(args["WARNING"] ?? args["REASON"] ?? "problem", 120) : null);
    }

    public static BootstrapPhase? TryParse(TorReply reply) =>
        reply.IsEvent && !reply.Lines.IsEmpty ? TryParse(reply.Lines[0].Text) : null;

    public override string ToString() =>
        Done ? "bootstrapped 100%" : $"bootstrapping {Progress}%: {Summary}" + (Warning is null ? "" : $" (warning: {Warning})");
}
