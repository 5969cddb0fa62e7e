/*  fakts-node dashboard: fills its tables from /ui/api/dashboard and
    refreshes them every few seconds. Every value goes into the page with
    textContent, never as markup: app manifests and service definitions are
    written by others. */
"use strict";

(function () {
    const REFRESH_MS = 3000;

    function el(tag, text, className) {
        const node = document.createElement(tag);
        if (text !== undefined && text !== null) {
            node.textContent = String(text);
        }
        if (className) {
            node.className = className;
        }
        return node;
    }

    function row(cells) {
        const tr = el("tr");
        for (const cell of cells) {
            const td = el("td");
            td.append(cell instanceof Node ? cell : document.createTextNode(String(cell)));
            tr.append(td);
        }
        return tr;
    }

    function badge(status) {
        return el("span", status, "status " + status);
    }

    function fill(table, rows, empty) {
        const body = document.querySelector(table + " tbody");
        body.replaceChildren(...rows);
        if (empty) {
            document.getElementById(empty).hidden = rows.length > 0;
            document.querySelector(table).hidden = rows.length === 0;
        }
    }

    function aliasText(alias) {
        let text = (alias.ssl ? "https://" : "http://") + alias.host;
        if (alias.port !== null && alias.port !== undefined) {
            text += ":" + alias.port;
        }
        if (alias.path) {
            text += "/" + alias.path;
        }
        return text;
    }

    /*  Codes link to their approval page only for a session that may
        decide them (the approve role); the node refuses the rest anyway. */
    function renderCodes(codes, mayApprove) {
        fill("#codes", codes.map(function (code) {
            const link = el(mayApprove ? "a" : "span", code.user_code, "code");
            if (mayApprove) {
                link.href = "/configure/" + encodeURIComponent(code.user_code);
            }
            const app = el("span");
            app.append(el("strong", code.title || code.identifier), " ",
                       el("span", code.version, "muted"));
            const reqs = el("span");
            for (const r of code.requirements) {
                const status = (code.statuses && code.statuses[r.key]) || "unknown";
                const item = el("span", null, "req");
                item.append(el("code", r.key), " ", badge(status));
                reqs.append(item);
            }
            return row([link, app, reqs, code.expires_in + " s"]);
        }), "codes-empty");
    }

    function when(ms) {
        if (ms === null || ms === undefined) {
            return "never";
        }
        return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    }

    /*  "alias (key) by app version: reason", one line of what an app
        could not reach. */
    function failingText(f, app) {
        let text = (f.alias_id || "no alias of " + f.key) + " (" + f.key + ")";
        if (app) {
            text += " by " + app.identifier + " " + app.version;
        }
        if (f.instance) {
            text += " at " + f.instance;
        }
        if (f.reason) {
            text += ": " + f.reason;
        }
        return text;
    }

    /*  Revoke is a plain form posted to the node, with the session's CSRF
        token, like the approval page's buttons: the node answers a page
        saying what happened. */
    function revokeForm(app) {
        const form = el("form", null, "inline");
        form.method = "post";
        form.action = "/ui/apps/revoke";
        const csrf = el("input");
        csrf.type = "hidden";
        csrf.name = "csrf";
        csrf.value = document.getElementById("dash").dataset.csrf;
        const id = el("input");
        id.type = "hidden";
        id.name = "client_id";
        id.value = app.client_id;
        const button = el("button", "Revoke", "danger");
        button.type = "submit";
        button.title = "End this app's tokens on every node; it must be approved again";
        form.append(csrf, id, button);
        return form;
    }

    function renderApps(apps, mayRevoke) {
        fill("#apps", (apps || []).map(function (a) {
            const app = el("span");
            app.append(el("strong", a.identifier), " ", el("span", a.version, "muted"));
            app.title = a.client_id;
            const approved = el("span");
            approved.append((a.approved_by || "unknown") + " on " + (a.approved_node || a.node),
                            el("br"), el("code", when(a.approved_ms), "small"));
            const report = el("span");
            if (a.last_report_ms === null || a.last_report_ms === undefined) {
                report.append("none");
            } else {
                report.append(el("code", when(a.last_report_ms), "small"));
                for (const f of a.failing || []) {
                    report.append(el("br"), el("span", failingText(f, null), "status critical"));
                }
                if ((a.failing || []).length === 0) {
                    report.append(" ", badge("passing"));
                }
            }
            return row([app, a.dialect + " (" + a.grant + ")", approved,
                        el("code", when(a.last_exchange_ms), "small"), report,
                        mayRevoke ? revokeForm(a) : ""]);
        }), "apps-empty");
    }

    function renderMembers(members, self) {
        fill("#members", members.map(function (m) {
            const name = el("span");
            name.append(el("strong", m.name));
            if (m.name === self) {
                name.append(" ", el("span", "this node", "muted small"));
            }
            return row([name, el("code", m.addr), badge(m.status), m.incarnation]);
        }));
    }

    function renderServices(services, members) {
        const byNode = new Map();
        for (const s of services) {
            if (!byNode.has(s.node)) {
                byNode.set(s.node, []);
            }
            byNode.get(s.node).push(s);
        }
        const status = new Map(members.map(function (m) { return [m.name, m.status]; }));
        const blocks = [];
        for (const [node, list] of byNode) {
            const block = el("div", null, "node-services");
            const head = el("h3");
            head.append(node, " ", badge(status.get(node) || list[0].node_status || "unknown"));
            block.append(head);
            const table = el("table");
            const thead = el("thead");
            const heads = el("tr");
            for (const h of ["ID", "Service", "Aliases", "Health", "Tags", "Apps cannot reach"]) {
                heads.append(el("th", h));
            }
            thead.append(heads);
            const tbody = el("tbody");
            for (const s of list) {
                const aliases = el("span");
                for (const a of s.aliases || []) {
                    aliases.append(el("code", aliasText(a), "alias"));
                }
                /*  Health as the owner's checks last wrote it, the
                    output of each check in the badge's tooltip; "-" for a
                    service without checks. */
                const health = el("span");
                if (s.health && s.health.status) {
                    const b = badge(s.health.status);
                    b.title = (s.health.checks || []).map(function (c) {
                        return c.status + ": " + c.output;
                    }).join("\n");
                    health.append(b);
                } else {
                    health.append("-");
                }
                /*  What approved apps reported they could not reach on
                    this instance (their newest report each). */
                const unreachable = el("span");
                for (const f of s.unreachable || []) {
                    unreachable.append(el("span", failingText(f, f), "status critical"), el("br"));
                }
                if ((s.unreachable || []).length === 0) {
                    unreachable.append("-");
                }
                tbody.append(row([el("code", s.id), s.service, aliases, health,
                                  (s.tags || []).join(", "), unreachable]));
            }
            table.append(thead, tbody);
            block.append(table);
            blocks.push(block);
        }
        document.getElementById("services").replaceChildren(...blocks);
        document.getElementById("services-empty").hidden = blocks.length > 0;
    }

    /*  Newest first; entries come from every node, so like everything
        else they go in as text. */
    function renderAudit(entries) {
        const rows = (entries || []).slice().reverse().map(function (e) {
            const when = new Date(e.ts_ms).toISOString().replace(".000Z", "Z");
            return row([el("code", when), e.node, e.actor, e.from, el("code", e.action),
                        e.subject]);
        });
        fill("#audit", rows, "audit-empty");
    }

    function setUpdated(text) {
        document.getElementById("updated").textContent = text;
    }

    async function refresh() {
        let answer;
        try {
            answer = await fetch("/ui/api/dashboard", {
                headers: {"Accept": "application/json"},
                credentials: "same-origin",
                cache: "no-store",
            });
        } catch (e) {
            setUpdated("node unreachable; retrying");
            return;
        }
        if (answer.status === 401) {
            window.location.assign("/ui/login?next=/ui/");
            return;
        }
        if (!answer.ok) {
            setUpdated("the node answered " + answer.status + "; retrying");
            return;
        }
        const data = await answer.json();
        renderCodes(data.codes, data.may_approve === true);
        renderApps(data.apps, data.may_approve === true);
        renderMembers(data.members, data.node);
        renderServices(data.services, data.members);
        renderAudit(data.audit);
        setUpdated("updated " + new Date().toLocaleTimeString());
    }

    refresh();
    window.setInterval(refresh, REFRESH_MS);
})();
