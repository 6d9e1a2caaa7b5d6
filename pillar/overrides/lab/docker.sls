# Lab: Debian's docker.io + docker-compose (v2 on trixie) from the apt proxy,
# and the stand-in image loaded from the archive every lab host has (no
# registry is reachable). Formulas using it require test: docker-images-preloaded.
docker:
  install_mode: distro
  preload:
    - archive: /var/lib/lostops-lab/standin.tar
      image: localhost/lostops-standin:lab
