namespace Bastion.Tor;

/// <summary>
/// Reads <c>GETINFO circuit-status</c> (control-spec 4.1.1 format, one circuit per line:
/// <c>ID STATUS [PATH] KEY=VALUE…</c>).
/// </summary>
public static class CircuitStatus
{
    /// <summary>
    /// The circuits on which tor serves <paramref name="serviceId"/> to a client (PURPOSE=HS_SERVICE_REND, being built or
    /// joined, REND_QUERY = the address without ".onion"). Each one carries a client's open or reusable session.
    /// </summary>
    public static IReadOnlyList<string> ServiceRendezvous(string circuitStatus, string serviceId)
    {
        var ids = new List<string>();
        foreach (var raw in circuitStatus.Split('\n'))
        {
            var args = TorArguments.Parse(raw.TrimEnd('\r'));
            if (args.Word(0) is { Length: > 0 } id && id.All(char.IsAsciiDigit)
                && args["PURPOSE"] == "HS_SERVICE_REND"
                && string.Equals(args["REND_QUERY"], serviceId, StringComparison.OrdinalIgnoreCase))
            {
                ids.Add(id);
            }
        }
        return ids;
    }
}
