namespace Bastion.Config;

// checks:
internal sealed partial class ConfigBinder
{
    private EquatableArray<CheckConfig> BindChecks(KeyedMapping root)
    {
        var names = new UniqueNames(errors, "give each check its own name");
        var result = new List<CheckConfig>();
        foreach (var m in Items(root, "checks"))
        {
            var d = new CheckConfig { Name = "", Endpoint = Placeholder };
            var nameAt = Require(m, "name", "sshd");
            var name = Name(nameAt);
            names.Claim(name, nameAt);
            var endpoint = Endpoint(Require(m, "endpoint", "127.0.0.1:22"));
            var interval = Duration(Get(m, "interval"));
            var timeout = Duration(Get(m, "timeout"));
            Ordered(m, strict: true, "timeout", timeout, d.Timeout, "interval", interval, d.Interval);
            var check = new CheckConfig
            {
                Name = name ?? "",
                Endpoint = endpoint ?? d.Endpoint,
                Expect = Text(Get(m, "expect")),
                Interval = interval ?? d.Interval,
                Timeout = timeout ?? d.Timeout,
                Failures = Integer(Get(m, "failures"), 1) ?? d.Failures,
            };
            result.Add(check);
        }
        _facts.CheckNames.AddRange(names.Values);
        return [.. result];
    }
}
