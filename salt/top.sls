{#- State top, derived from the role table: the pillar (lostops/pillar.py,
    computed on the master side from the inventory and lostops/roles.py)
    carries this minion's formulas in order, `lostops:host:formulas`; common
    and firewall first (the host is locked down before anything listens),
    docker before every compose project. A new host needs only its inventory
    entry; a new role is one entry in lostops/roles.py.

    Pillar in the top file (Salt 3008.4 source):
    - salt/state.py BaseHighState.get_tops renders top.sls with
      compile_template(..., self.state.rend, ...); State.__init__ compiles the
      pillar into opts["pillar"] (_gather_pillar, or initial_pillar, plus any
      pillar= override) BEFORE load_modules() builds self.rend, and
      salt/loader/lazy.py LazyLoader.__prep_mod_opts packs
      __pillar__ = opts["pillar"] into every renderer, which
      salt/renderers/jinja.py passes as `pillar`. That is salt-call --local
      (lostops/render.py, make render, the unit tier).
    - salt-ssh: salt/client/ssh/wrapper/state.py highstate()/apply_() builds
      salt.client.ssh.state.SSHHighState ("Used to compile the highstate on
      the master") with initial_pillar = the master-side pillar
      (_get_initial_pillar); its SSHState.load_modules sets
      self.rend = salt.loader.render(self.opts, self.functions), so the same
      __pillar__ packing applies; compile_low_chunks() -> get_top() renders
      this file on the master, and only the compiled low chunks go to the
      target (prep_trans_tar). The lostops package is never needed there.
    - get_top() catches a SaltRenderError raised here and returns an empty
      top (only a log line), so a minion without formulas is given the sls
      `unassigned`, whose render fails with one line instead. #}
{%- set formulas = ((pillar.get('lostops') or {}).get('host') or {}).get('formulas') %}
base:
  '*':
{%- if formulas %}
{%-   for formula in formulas %}
    - {{ formula }}
{%-   endfor %}
{%- else %}
    - unassigned
{%- endif %}
