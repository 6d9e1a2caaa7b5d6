"""Plain-Python core of the Lostops toolkit (no jsii, no Salt imports).

The inventory (pillar/inventory/<name>.yaml) is loaded and validated by
:mod:`lostops.inventory`; :mod:`lostops.policy` turns its access policy into
ordered rules that both the NSGs (cdktf) and the host firewall (Salt) use.
"""
