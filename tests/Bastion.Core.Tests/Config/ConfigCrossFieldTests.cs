using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>Rules between keys of one entry, and between sections.</summary>
public sealed class ConfigCrossFieldTests
{
    private const string F = ConfigFile;

    private const string TlsListener = """
        tls:
          - name: vnc
            mode: listen
            address: 0.0.0.0:5901
            backend: unix:/run/bastion/rfb.sock
            certificate: /etc/bastion/tls/vnc.crt
            key: /etc/bastion/tls/vnc.key
            ca: /etc/bastion/tls/ca.crt
        """;

    /// <summary>The endpoint vnc.endpoint names: no backend (it relays to the desktop).</summary>
    private const string VncFront = """
        tls:
          - name: vnc
            mode: listen
            address: 0.0.0.0:5901
            certificate: /etc/bastion/tls/vnc.crt
            key: /etc/bastion/tls/vnc.key
            ca: /etc/bastion/tls/ca.crt
        """;

    private const string SshdCheck = """
        checks:
          - name: sshd
            endpoint: 127.0.0.1:22
        """;

    private static string Tunnel(string from, string to) => GoodTunnel.Replace(from, to, StringComparison.Ordinal);

    [Fact]
    public void Local_tunnel_needs_a_target()
    {
        var error = SingleError(Tunnel("    target: 127.0.0.1:22", ""));

        Assert.Equal($"{F}:2:5: tunnels[0].target: is missing; a local tunnel forwards to a target the SSH server connects to — add it, e.g. target: 127.0.0.1:22", error);
    }

    [Fact]
    public void Remote_tunnel_needs_a_target()
    {
        var error = SingleError(Tunnel("kind: local", "kind: remote").Replace("    target: 127.0.0.1:22", "", StringComparison.Ordinal));

        Assert.Equal($"{F}:2:5: tunnels[0].target: is missing; a remote tunnel forwards the server's bind to a local target — add it, e.g. target: 127.0.0.1:22 (this machine's sshd)", error);
    }

    [Fact]
    public void Dynamic_tunnel_must_not_have_a_target()
    {
        var error = SingleError(Tunnel("kind: local", "kind: dynamic"));

        Assert.Equal($"{F}:11:13: tunnels[0].target: a dynamic tunnel has no target (each SOCKS client names its own) — remove target, or use kind: local", error);
    }

    [Fact]
    public void Host_key_checking_cannot_be_left_out()
    {
        var error = SingleError(Tunnel("        fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]", "        fingerprints: []"));

        Assert.Equal($"{F}:9:9: tunnels[0].server.hostKey: has none of fingerprints, knownHosts or ca — run `bastionctl ssh hostkey jump.example.org:22` to learn the fingerprint to pin; host key checking cannot be switched off", error);
    }

    [Fact]
    public void Missing_host_key_section_says_how_to_learn_the_fingerprint()
    {
        var error = SingleError(Tunnel("      hostKey:\n        fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]\n", ""));

        Assert.Equal($"{F}:5:7: tunnels[0].server.hostKey: is missing — add hostKey: with fingerprints, knownHosts or ca; run `bastionctl ssh hostkey jump.example.org:22` to learn the fingerprint to pin; host key checking cannot be switched off", error);
    }

    [Theory]
    [InlineData("SHA256:abc", "'SHA256:abc' is not a SHA256 fingerprint — write it as ssh-keygen -lf prints it: SHA256: and 43 base64 characters")]
    [InlineData("f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8", "'f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8' does not start with SHA256: — write it as ssh-keygen -lf prints it: SHA256: and 43 base64 characters")]
    [InlineData("SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8=", "'SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8=' ends with base64 padding — remove the trailing '='")]
    [InlineData("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48' is an MD5 fingerprint, which is not accepted — use the SHA256 one (ssh-keygen -lf FILE -E sha256)")]
    public void Fingerprints_must_be_sha256_as_ssh_keygen_prints_them(string fingerprint, string message)
    {
        var error = SingleError(Tunnel("[SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]", $"[\"{fingerprint}\"]"));

        Assert.Equal($"{F}:9:24: tunnels[0].server.hostKey.fingerprints[0]: {message}", error);
    }

    [Fact]
    public void Host_ca_must_be_a_public_key_line()
    {
        var error = SingleError(Tunnel("[SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]", "[]\n        ca: /etc/ssh/host_ca.pub"));

        Assert.Equal($"{F}:10:13: tunnels[0].server.hostKey.ca: ca takes the CA's public key itself, not a file path — paste the line from the CA's .pub file (ssh-ed25519 AAAA…)", error);
    }

    [Fact]
    public void Tor_tunnel_needs_socks_or_an_onion_section()
    {
        var yaml = GoodTunnel + "\n    via: tor";

        Assert.Equal($"{F}:12:10: tunnels[0].via: via: tor needs a SOCKS proxy into tor — add socks: 127.0.0.1:9050 (an existing tor) or an onion: section (Bastion runs tor)", SingleError(yaml));
        Assert.Equal(new Endpoint("127.0.0.1", 9050), LoadValid(yaml + "\n    socks: 127.0.0.1:9050").Tunnels[0].Socks);
        Assert.Equal(TunnelVia.Tor, LoadValid(yaml + "\nonion: {}").Tunnels[0].Via);
    }

    [Fact]
    public void Socks_without_via_tor_is_reported()
    {
        var error = SingleError(GoodTunnel + "\n    socks: 127.0.0.1:9050");

        Assert.Equal($"{F}:12:12: tunnels[0].socks: is only used with via: tor — set via: tor, or remove socks", error);
    }

    [Fact]
    public void Vnc_fallback_needs_a_check()
    {
        var error = SingleError(VncFront + "\nvnc:\n  mode: fallback\n  endpoint: vnc");

        Assert.Equal($"{F}:9:3: vnc.fallback.check: is missing; mode fallback needs the check that watches sshd — add it under fallback:, e.g. check: sshd (the name of a checks: entry)", error);
    }

    [Fact]
    public void Vnc_fallback_check_must_name_an_existing_check()
    {
        // vnc comes before checks in the file: references work in any order.
        var error = SingleError("vnc:\n  mode: fallback\n  endpoint: vnc\n  fallback:\n    check: ssdh\n" + SshdCheck + "\n" + VncFront);

        Assert.Equal($"{F}:5:12: vnc.fallback.check: no check is named 'ssdh' — did you mean 'sshd'? use one of: sshd (the names under checks:)", error);
    }

    [Fact]
    public void Vnc_always_needs_an_existing_tls_endpoint()
    {
        Assert.Equal($"{F}:2:3: vnc.endpoint: is missing; mode always needs the tls: endpoint that fronts the desktop — add it, e.g. endpoint: vnc (the name of a tls: entry)",
            SingleError("vnc:\n  mode: always"));
        Assert.Equal($"{F}:3:13: vnc.endpoint: no TLS endpoint is named 'desktop' — add a tls: entry named 'desktop'",
            SingleError("vnc:\n  mode: always\n  endpoint: desktop"));
        Assert.Equal("vnc", LoadValid(VncFront + "\nvnc:\n  mode: always\n  endpoint: vnc").Vnc!.Endpoint);
    }

    [Fact]
    public void Dbus_bus_address_needs_an_address_and_only_it_takes_one()
    {
        Assert.Equal($"{F}:2:3: dbus.address: is missing; bus: address needs it — add it, e.g. address: unix:path=/run/bastion/bus",
            SingleError("dbus:\n  bus: address"));
        Assert.Equal($"{F}:3:12: dbus.address: is only used with bus: address — remove it, or set bus: address",
            SingleError("dbus:\n  bus: session\n  address: unix:path=/run/bus"));
        Assert.Equal("unix:path=/run/bus", LoadValid("dbus:\n  bus: address\n  address: unix:path=/run/bus").Dbus.Address);
    }

    [Fact]
    public void Onion_virtual_ports_are_in_range_and_unique_per_service()
    {
        var errors = Errors("""
            onion:
              services:
                - name: ssh
                  ports:
                    - {virtual: 22, target: "127.0.0.1:22"}
                    - {virtual: 22, target: "127.0.0.1:2222"}
                    - {virtual: 0, target: "127.0.0.1:80"}
                - name: web
                  ports: [{virtual: 22, target: "127.0.0.1:22"}]
            """);

        Assert.Equal(
        [
            $"{F}:6:21: onion.services[0].ports[1].virtual: '22' is already used by onion.services[0].ports[0] (line 5) — publish each virtual port once",
            $"{F}:7:21: onion.services[0].ports[2].virtual: 0 is out of range — use 1..65535",
        ], errors);
    }

    [Fact]
    public void Onion_service_without_ports_publishes_sshd_on_22()
    {
        var config = LoadValid("onion:\n  services:\n    - name: ssh");

        Assert.Equal([new OnionPortConfig(22, new Endpoint("127.0.0.1", 22))], config.Onion!.Services[0].Ports);
    }

    [Fact]
    public void Authorized_client_keys_are_base32_and_stored_uppercase()
    {
        const string Key = "o2n6pledbmybtoska4mrfutc7r2346xhaa4g5rfdv5s3bqn7zyua";
        var config = LoadValid($"onion:\n  services:\n    - name: ssh\n      authorizedClients: [{{name: alice, publicKey: {Key}}}]");
        Assert.Equal(Key.ToUpperInvariant(), config.Onion!.Services[0].AuthorizedClients[0].PublicKey);

        var error = SingleError("onion:\n  services:\n    - name: ssh\n      authorizedClients: [{name: alice, publicKey: AAAA}]");
        Assert.Equal($"{F}:4:52: onion.services[0].authorizedClients[0].publicKey: is not a base32 x25519 public key — write the client's public key: the 52 base32 characters (A-Z, 2-7) after descriptor:x25519: in its .auth file", error);
    }

    [Fact]
    public void Authorized_client_names_are_unique_within_a_service()
    {
        const string Key = "O2N6PLEDBMYBTOSKA4MRFUTC7R2346XHAA4G5RFDV5S3BQN7ZYUA";
        var error = SingleError($"onion:\n  services:\n    - name: ssh\n      authorizedClients:\n        - {{name: alice, publicKey: {Key}}}\n        - {{name: alice, publicKey: {Key}}}");

        Assert.Equal($"{F}:6:18: onion.services[0].authorizedClients[1].name: 'alice' is already used by onion.services[0].authorizedClients[0] (line 5) — give each authorized client its own name", error);
    }

    [Fact]
    public void Stock_viewers_are_explained_to_by_default_and_x509vnc_is_an_opt_in_with_a_located_error_for_other_words()
    {
        Assert.Equal(VncStockViewers.Explain, LoadValid("vnc:\n  mode: off").Vnc!.StockViewers);
        Assert.Equal(VncStockViewers.X509Vnc, LoadValid("vnc:\n  mode: off\n  stockViewers: x509vnc").Vnc!.StockViewers);
        var error = SingleError("vnc:\n  stockViewers: vencrypt");
        Assert.StartsWith($"{F}:2:17: vnc.stockViewers: ", error, StringComparison.Ordinal);
        Assert.Contains("x509vnc", error, StringComparison.Ordinal);
    }

    [Fact]
    public void X509vnc_on_a_desktop_endpoint_in_mode_dial_is_a_located_error_naming_the_fix()
    {
        var dial = VncFront.Replace("mode: listen", "mode: dial", StringComparison.Ordinal).Replace("0.0.0.0:5901", "admin.example.org:5901", StringComparison.Ordinal);
        Assert.Equal(VncStockViewers.X509Vnc, LoadValid(VncFront + "\nvnc:\n  mode: always\n  endpoint: vnc\n  stockViewers: x509vnc").Vnc!.StockViewers);
        var error = SingleError(dial + "\nvnc:\n  mode: always\n  endpoint: vnc\n  stockViewers: x509vnc");
        Assert.StartsWith($"{F}:11:17: vnc.stockViewers: needs vnc.endpoint in mode listen, but tls 'vnc' is in mode dial", error, StringComparison.Ordinal);
        Assert.Contains("remove stockViewers", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Geometry_must_be_width_x_height()
    {
        Assert.Equal($"{F}:2:13: vnc.geometry: '1280*800' is not WIDTHxHEIGHT — write e.g. 1280x800", SingleError("vnc:\n  geometry: 1280*800"));
        Assert.Equal($"{F}:2:13: vnc.geometry: 0x800 is out of range — use a width and height from 1 to 16384, e.g. 1280x800", SingleError("vnc:\n  geometry: 0x800"));
    }

    [Fact]
    public void Tls_endpoint_without_ca_needs_the_pki_section()
    {
        var withoutCa = TlsListener.Replace("    ca: /etc/bastion/tls/ca.crt", "", StringComparison.Ordinal);

        Assert.Equal($"{F}:2:5: tls[0].ca: is missing, and there is no pki: section to provide the CA — set ca: to the CA certificate that signs the peers' certificates, or add a pki: section", SingleError(withoutCa));
        Assert.Null(LoadValid(withoutCa + "\npki: {}").Tls[0].Ca);
    }

    [Fact]
    public void Tls_listen_may_bind_port_zero_but_dial_may_not()
    {
        Assert.Equal(0, LoadValid(TlsListener.Replace("0.0.0.0:5901", "127.0.0.1:0", StringComparison.Ordinal)).Tls[0].Address.Port);

        var dial = TlsListener.Replace("mode: listen", "mode: dial", StringComparison.Ordinal).Replace("0.0.0.0:5901", "admin.example.org:0", StringComparison.Ordinal);
        Assert.Equal($"{F}:4:14: tls[0].address: port 0 (any free port) is only allowed for a local listener — use a port from 1 to 65535", SingleError(dial));
    }

    [Fact]
    public void Tls_backend_is_a_unix_socket_or_a_tcp_endpoint()
    {
        var tcp = LoadValid(TlsListener.Replace("unix:/run/bastion/rfb.sock", "127.0.0.1:5900", StringComparison.Ordinal));
        Assert.Equal(new BackendAddress(new Endpoint("127.0.0.1", 5900), null), tcp.Tls[0].Backend);

        var longPath = "unix:/run/" + new string('x', 120);
        Assert.StartsWith($"{F}:5:14: tls[0].backend: the socket path /run/xxx", SingleError(TlsListener.Replace("unix:/run/bastion/rfb.sock", longPath, StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_backend_is_required_except_on_the_vnc_endpoint()
    {
        var withoutBackend = TlsListener.Replace("    backend: unix:/run/bastion/rfb.sock\n", "", StringComparison.Ordinal);
        Assert.Equal($"{F}:2:5: tls[0].backend: is missing — add backend: unix:/path or host:port (only the endpoint that vnc.endpoint names may leave it out: it relays to the desktop)",
            SingleError(withoutBackend));

        var vnc = "\nvnc: {mode: always, endpoint: vnc}";
        Assert.Null(LoadValid(withoutBackend + vnc).Tls[0].Backend);

        // vnc.mode off: the entry is an ordinary endpoint again and needs its backend.
        Assert.Equal($"{F}:2:5: tls[0].backend: is missing — add backend: unix:/path or host:port (only the endpoint that vnc.endpoint names may leave it out: it relays to the desktop)",
            SingleError(withoutBackend + "\nvnc: {mode: off, endpoint: vnc}"));
    }

    [Fact]
    public void The_vnc_endpoint_must_not_name_a_backend_of_its_own()
    {
        var error = SingleError(TlsListener + "\nvnc: {mode: always, endpoint: vnc}");

        Assert.Equal($"{F}:5:14: tls[0].backend: is not used: 'vnc' is vnc.endpoint, so it relays to the emergency desktop's own socket — remove backend: from this entry (Bastion connects it to the desktop)", error);
    }

    [Fact]
    public void Tls_pins_are_base64_sha256_and_stored_padded()
    {
        var config = LoadValid(TlsListener + "\n    pins: [vtIiuD3SVn17m4kWvAlYJXcfrziHd7BrJeoaUvEtKlM]");
        Assert.Equal(["vtIiuD3SVn17m4kWvAlYJXcfrziHd7BrJeoaUvEtKlM="], config.Tls[0].Pins);

        var error = SingleError(TlsListener + "\n    pins: [not-a-pin]");
        Assert.StartsWith($"{F}:9:12: tls[0].pins[0]: 'not-a-pin' is not a base64 SHA-256 pin — write the base64 SHA-256 of the peer's public key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Pki_certificates_must_not_outlive_the_ca_and_renew_before_they_expire()
    {
        var errors = Errors("""
            pki:
              caLifetime: 20d
              renewBefore: 30d
            """);

        Assert.Equal(
        [
            $"{F}:2:15: pki.caLifetime: 20d is shorter than serverLifetime (30d, the default) — make caLifetime at least serverLifetime, or set serverLifetime lower",
            $"{F}:3:16: pki.renewBefore: 30d is not shorter than serverLifetime (30d, the default) — make renewBefore shorter than serverLifetime",
        ], errors);
    }

    [Fact]
    public void Tor_extra_config_takes_one_line_per_entry()
    {
        var error = SingleError("onion:\n  tor:\n    extraConfig:\n      - \"DisableNetwork 1\\nSocksPort 0\"");

        Assert.Equal($"{F}:4:9: onion.tor.extraConfig[0]: holds more than one line — write one torrc line per list entry", error);
    }
}
