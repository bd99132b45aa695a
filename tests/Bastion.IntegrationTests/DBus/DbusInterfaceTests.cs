using Bastion.IntegrationTests.Infrastructure;
using Bastion.Api;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>The exported interface as standard tools see it on a real dbus-daemon: busctl introspect, busctl and gdbus calls.</summary>
public sealed class DbusInterfaceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Busctl_introspect_shows_exactly_the_declared_interface_with_argument_names()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        var xml = await env.Bus.BusctlAsync("introspect", "--xml-interface", BastionApi.BusName, BastionApi.ObjectPath);
        var table = await env.Bus.BusctlAsync("introspect", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface);

        Assert.True(xml.ExitCode == 0, xml.Describe());
        var declared = InterfaceDescription.Parse(
            File.ReadAllText(Path.Combine(Binaries.RepositoryRoot, "src/Bastion.Daemon/DBus/org.bastion.Bastion1.xml")), BastionApi.Interface);
        var shown = InterfaceDescription.Parse(xml.StdOut, BastionApi.Interface);
        Assert.Equal(InterfaceDescription.Shape(declared), InterfaceDescription.Shape(shown));
        Assert.Contains("<arg type=\"s\" name=\"kind\" direction=\"in\"/>", xml.StdOut, StringComparison.Ordinal);
        Assert.True(table.ExitCode == 0, table.Describe());
        Assert.Matches(@"\.RestartComponent\s+method\s+ss\s+s\s", table.StdOut);
        Assert.Matches(@"\.State\s+property\s+s\s+""running""\s+emits-change", table.StdOut);
        Assert.Matches(@"\.Version\s+property\s+s\s+""0\.1\.0""\s+const", table.StdOut);
        Assert.Matches(@"\.ComponentStateChanged\s+signal\s+ssssx\s", table.StdOut);
    }

    [Fact]
    public async Task Busctl_and_gdbus_calls_answer_with_typed_values_from_the_daemons_state()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        var status = env.Daemon.ReadStatus();

        var busctl = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "GetStatus");
        var gdbus = await env.Bus.GdbusCallAsync("GetComponent", "check", "web");
        var list = await env.Bus.GdbusCallAsync("ListComponents");
        var tunnels = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "ListTunnels");
        var pid = await env.Bus.BusctlAsync("get-property", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "Pid");

        Assert.True(busctl.ExitCode == 0, busctl.Describe());
        Assert.StartsWith($"sssusxxasxa(ssssxxsa{{ss}}) \"running\" \"{status.Daemon.Summary.Split(' ')[0]}", busctl.StdOut, StringComparison.Ordinal);
        Assert.Contains($"\"0.1.0\" {env.Daemon.Pid} \"{env.Daemon.ConfigPath}\"", busctl.StdOut, StringComparison.Ordinal);
        Assert.True(gdbus.ExitCode == 0, gdbus.Describe());
        Assert.Matches(@"^\(\('check', 'web', '(Degraded|Failed|Starting)', '.+', int64 \d{16}, int64 1, '[0-9a-f]{12}', \{.*'endpoint': '127\.0\.0\.1:1'", gdbus.StdOut);
        Assert.True(list.ExitCode == 0, list.Describe());
        Assert.StartsWith("([('check', 'web', ", list.StdOut, StringComparison.Ordinal);
        Assert.True(tunnels.ExitCode == 0, tunnels.Describe());
        Assert.Equal("a(ssssxxsa{ss}) 0", tunnels.StdOut.Trim());
        Assert.Equal($"u {env.Daemon.Pid}", pid.StdOut.Trim());
    }
}
