-- cert_spec.lua: certificates from Lua: parsing PEM and DER, identity for a
-- domain (RFC 6125 / RFC 9525 for XMPP), the SPKI pin, chain verification,
-- and pin matching against a partner table.  The certificates are made
-- fresh with the openssl command into a temporary directory.
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local helpers = dofile(here .. "helpers.lua")
local core = helpers.core
local error_of = helpers.error_of

local CLOSED = "xmpp_partners.core: cert is closed"

local function sh_quote(s)
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function run(cmd)
	local ok = os.execute(cmd)
	return ok == true or ok == 0
end

local function read(path)
	local f = assert(io.open(path, "rb"))
	local data = f:read("*a")
	f:close()
	return data
end

-- Make a CA, an intermediate and leaves; returns the directory or nil.
local function make_certs()
	if not run("openssl version >/dev/null 2>&1") then return nil end
	local dir = os.tmpname()
	os.remove(dir)
	if not run("mkdir " .. sh_quote(dir)) then return nil end
	local script = [=[
set -e
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() { # name subject [signer]
	key "$1"
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$1.ext"
	if [ -z "$3" ]; then
		openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -out "$1.pem" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	else
		openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
		openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
			-days 3650 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
	fi
}
leaf() { # name subject signer [san]
	key "$1"
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
	if [ -n "$4" ]; then
		printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$4" > "$1.ext"
	else
		printf 'basicConstraints=CA:FALSE\n' > "$1.ext"
	fi
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
		-days 365 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
pin() {
	openssl x509 -in "$1.pem" -pubkey -noout | openssl pkey -pubin -outform DER |
		openssl dgst -sha256 -r | cut -d' ' -f1 > "$1.pin"
}
ca root "/CN=xmpp-partners test root"
ca other "/CN=xmpp-partners other root"
ca inter "/CN=xmpp-partners test intermediate" root
leaf fabrikam "/CN=fabrikam.com" root "DNS:fabrikam.com,DNS:*.corp.fabrikam.com"
leaf contoso "/CN=contoso.com" inter "DNS:contoso.com"
leaf legacy "/CN=legacy.example" root
leaf ids "/CN=ids" root "otherName:1.3.6.1.5.5.7.8.5;UTF8:xmpp.example,otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.srv.example"
leaf stranger "/CN=fabrikam.com" other "DNS:fabrikam.com"
openssl x509 -in fabrikam.pem -outform DER -out fabrikam.der
pin fabrikam
pin contoso
]=]
	local f = assert(io.open(dir .. "/make.sh", "w"))
	f:write(script)
	f:close()
	if not run("sh " .. sh_quote(dir .. "/make.sh") .. " " .. sh_quote(dir)) then
		run("rm -rf " .. sh_quote(dir))
		return nil
	end
	return dir
end

local dir = make_certs()

describe("core.cert", function()
	if not dir then
		pending("the openssl command is needed to make test certificates")
		return
	end
	lazy_teardown(function()
		run("rm -rf " .. sh_quote(dir))
	end)

	local function cert_of(name)
		return assert(core.cert(read(dir .. "/" .. name .. ".pem")))
	end

	describe("parsing", function()
		it("parses PEM and DER", function()
			local pem = core.cert(read(dir .. "/fabrikam.pem"))
			local der = core.cert(read(dir .. "/fabrikam.der"))
			assert.are.equal("xmpp_partners.core.cert", getmetatable(pem).__name)
			assert.are.equal(getmetatable(pem), getmetatable(der))
			assert.are.equal(pem:pin(), der:pin())
		end)

		it("returns nil and a message for garbage", function()
			for _, bad in ipairs({ "", "not a certificate", "\48\130\1\0",
				"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
				read(dir .. "/fabrikam.key"), read(dir .. "/fabrikam.der"):sub(1, 100) }) do
				local c, msg = core.cert(bad)
				assert.is_nil(c)
				assert.is_string(msg)
			end
		end)

		it("throws for a non-string", function()
			assert.truthy(error_of(core.cert, nil))
			assert.truthy(error_of(core.cert, {}))
		end)
	end)

	describe("cert:identity", function()
		it("accepts DNS-IDs, with a wildcard only for one left-most label", function()
			local c = cert_of("fabrikam")
			assert.are.equal("valid", c:identity("fabrikam.com"))
			assert.are.equal("valid", c:identity("FABRIKAM.com."))
			assert.are.equal("valid", c:identity("a.corp.fabrikam.com"))
			assert.are.equal("invalid", c:identity("a.b.corp.fabrikam.com"))
			assert.are.equal("invalid", c:identity("corp.fabrikam.com"))
			assert.are.equal("invalid", c:identity("contoso.com"))
			assert.are.equal("invalid", c:identity("evilfabrikam.com"))
			assert.are.equal("invalid", c:identity("not a domain"))
		end)

		it("accepts id-on-xmppAddr and SRV-ID", function()
			local c = cert_of("ids")
			assert.are.equal("valid", c:identity("xmpp.example"))
			assert.are.equal("valid", c:identity("srv.example"))
			assert.are.equal("invalid", c:identity("ids"))
			assert.are.equal("invalid", c:identity("other.example"))
		end)

		it("uses the CN only for certificates without SAN when asked", function()
			local c = cert_of("legacy")
			assert.are.equal("invalid", c:identity("legacy.example"))
			assert.are.equal("invalid", c:identity("legacy.example", false))
			assert.are.equal("valid", c:identity("legacy.example", true))
			-- never the CN when there is a SAN
			assert.are.equal("invalid", cert_of("ids"):identity("ids", true))
		end)

		it("throws for misuse", function()
			local c = cert_of("fabrikam")
			assert.truthy(error_of(c.identity, c, nil))
			assert.truthy(error_of(c.identity, c, "fabrikam.com", "yes"))
			assert.truthy(error_of(c.identity, {}, "fabrikam.com"))
		end)
	end)

	describe("cert:pin", function()
		it("is the SHA-256 of the SubjectPublicKeyInfo", function()
			for _, name in ipairs({ "fabrikam", "contoso" }) do
				local want = "sha256:" .. read(dir .. "/" .. name .. ".pin"):gsub("%s", "")
				assert.are.equal(want, cert_of(name):pin())
				assert.matches("^sha256:" .. string.rep("[0-9a-f]", 64) .. "$", cert_of(name):pin())
			end
		end)
	end)

	describe("cert:verify", function()
		local ca = dir .. "/root.pem"

		it("accepts a leaf signed by the CA", function()
			assert.are.equal("valid", cert_of("fabrikam"):verify(ca))
			assert.are.equal("valid", cert_of("fabrikam"):verify(ca, nil, os.time()))
			assert.are.equal("valid", cert_of("fabrikam"):verify(ca, {}))
		end)

		it("refuses a leaf from another CA, with OpenSSL's reason", function()
			local status, why = cert_of("stranger"):verify(ca)
			assert.are.equal("invalid", status)
			assert.is_string(why)
			assert.is_true(#why > 0)
		end)

		it("needs the intermediate for a leaf below one", function()
			local leaf, inter = cert_of("contoso"), cert_of("inter")
			assert.are.equal("invalid", (leaf:verify(ca)))
			assert.are.equal("valid", leaf:verify(ca, { inter }))
			assert.are.equal("invalid", (leaf:verify(dir .. "/other.pem", { inter })))
		end)

		it("checks validity dates at the time given", function()
			local c = cert_of("fabrikam")
			assert.are.equal("invalid", (c:verify(ca, nil, os.time() + 3 * 365 * 86400)))
			assert.are.equal("invalid", (c:verify(ca, nil, os.time() - 30 * 86400)))
		end)

		it("refuses when the CA file cannot be read", function()
			local status, why = cert_of("fabrikam"):verify(dir .. "/no-such-file.pem")
			assert.are.equal("invalid", status)
			assert.is_string(why)
		end)

		it("throws for misuse", function()
			local c = cert_of("fabrikam")
			assert.truthy(error_of(c.verify, c))
			assert.truthy(error_of(c.verify, c, ca, "inter"))
			assert.truthy(error_of(c.verify, c, ca, { "not a cert" }))
			assert.truthy(error_of(c.verify, c, ca, { core.closed() }))
			assert.truthy(error_of(c.verify, c, ca, nil, "now"))
			local closed = cert_of("inter")
			closed:close()
			assert.truthy(error_of(c.verify, c, ca, { closed }):find(CLOSED, 1, true))
		end)
	end)

	describe("pins in a partner table", function()
		it("matches a partner's pinned key given the cert itself", function()
			local c, other = cert_of("fabrikam"), cert_of("contoso")
			local t = helpers.build({ ["fabrikam.com"] = { fingerprints = { c:pin() } } })
			assert.is_true(t:pin_matches("fabrikam.com", c))
			assert.is_true(t:pin_matches("fabrikam.com", c:pin()))
			assert.is_false(t:pin_matches("fabrikam.com", other))
			assert.is_false(t:pin_matches("contoso.com", c))
			-- a pinned key stands in for an untrusted chain (SPEC section 2)
			local pinned = t:pin_matches("fabrikam.com", c)
			assert.is_true(t:auth("fabrikam.com", "incoming", "EXTERNAL", true, "invalid", "valid", pinned))
			c:close()
			assert.truthy(error_of(t.pin_matches, t, "fabrikam.com", c):find(CLOSED, 1, true))
		end)
	end)

	describe("life cycle", function()
		it("throws 'cert is closed' after close; close is idempotent", function()
			local c = cert_of("fabrikam")
			c:close()
			c:close()
			assert.truthy(error_of(c.identity, c, "fabrikam.com"):find(CLOSED, 1, true))
			assert.truthy(error_of(c.pin, c):find(CLOSED, 1, true))
			assert.truthy(error_of(c.verify, c, dir .. "/root.pem"):find(CLOSED, 1, true))
			getmetatable(c).__gc(c)
			assert.matches("closed", tostring(c))
		end)

		it("closes at the end of a <close> scope", function()
			if _VERSION < "Lua 5.4" then
				pending("to-be-closed variables need Lua 5.4")
				return
			end
			local f = assert(load([[
				local core, data = ...
				local keep
				do
					local c <close> = assert(core.cert(data))
					keep = c
					assert(c:identity("fabrikam.com") == "valid")
				end
				return keep
			]]))
			local c = f(core, read(dir .. "/fabrikam.pem"))
			assert.truthy(error_of(c.pin, c):find(CLOSED, 1, true))
		end)

		it("frees certificates that are garbage", function()
			local pem = read(dir .. "/fabrikam.pem")
			for i = 1, 3000 do
				local c = core.cert(pem)
				if i % 500 == 0 then collectgarbage("collect") end
				assert(c)
			end
			collectgarbage("collect")
		end)
	end)
end)
