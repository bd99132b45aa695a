namespace Bastion.Config;

/// <summary>The words one enum-valued key accepts (lowercase, exactly as written in YAML), without reflection.</summary>
internal sealed class Choices<T>(params (string Word, T Value)[] choices) where T : struct
{
    public IEnumerable<string> Words => choices.Select(c => c.Word);

    /// <summary>"local, remote, dynamic"</summary>
    public string List => string.Join(", ", Words);

    public bool TryGet(string word, out T value)
    {
        foreach (var (w, v) in choices)
        {
            if (string.Equals(w, word, StringComparison.Ordinal))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }
}

internal static class ConfigChoices
{
    public static Choices<LogLevelSetting> LogLevel { get; } = new(
        ("trace", LogLevelSetting.Trace), ("debug", LogLevelSetting.Debug), ("information", LogLevelSetting.Information),
        ("warning", LogLevelSetting.Warning), ("error", LogLevelSetting.Error));

    public static Choices<LogFormat> LogFormat { get; } = new(("text", Config.LogFormat.Text), ("json", Config.LogFormat.Json));

    public static Choices<TunnelKind> TunnelKind { get; } = new(
        ("local", Config.TunnelKind.Local), ("remote", Config.TunnelKind.Remote), ("dynamic", Config.TunnelKind.Dynamic));

    public static Choices<TunnelVia> TunnelVia { get; } = new(("direct", Config.TunnelVia.Direct), ("tor", Config.TunnelVia.Tor));

    public static Choices<VncMode> VncMode { get; } = new(
        ("off", Config.VncMode.Off), ("always", Config.VncMode.Always), ("fallback", Config.VncMode.Fallback));

    public static Choices<VncStockViewers> VncStockViewers { get; } = new(
        ("explain", Config.VncStockViewers.Explain), ("x509vnc", Config.VncStockViewers.X509Vnc));

    public static Choices<PkiAlgorithm> PkiAlgorithm { get; } = new(
        ("ecdsa-p256", Config.PkiAlgorithm.EcdsaP256), ("ecdsa-p384", Config.PkiAlgorithm.EcdsaP384));

    public static Choices<TlsMode> TlsMode { get; } = new(("listen", Config.TlsMode.Listen), ("dial", Config.TlsMode.Dial));

    public static Choices<BusKind> Bus { get; } = new(
        ("system", BusKind.System), ("session", BusKind.Session), ("address", BusKind.Address), ("none", BusKind.None));
}
