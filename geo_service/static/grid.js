// The program's grid on the phone: "use my location" becomes a square here, so only the
// square ever leaves the phone (DESIGN.md §4.9). It must give the server's square for every
// point, so it repeats the server's steps: project with the ellipsoidal Transverse Mercator
// PROJ runs by default (Kruger's series to n^6, Poder/Engsager; Karney 2011), take the
// metres to the millimetre, then the half-open cell index, operation for operation.
// Config: GET /report/grid.json (geo_service/services/phone_grid.py). No dependencies.
(function () {
  "use strict";
  const DEG = Math.PI / 180; // as PROJ's unitconvert: a multiplication
  const CELL_ID = /^(\d{1,6}):(-?\d{1,9}):(-?\d{1,9})$/;
  const EDGE = 2.623395162778; // 150 degrees of normalised easting: beyond, no answer

  // Horner in n of each coefficient, highest power first, then times n^k.
  function poly(n, k, terms) {
    let sum = 0;
    for (let j = terms.length - 1; j >= 0; j -= 1) sum = sum * n + terms[j];
    return Math.pow(n, k) * sum;
  }

  // Series coefficients (Engsager & Poder 2007; Karney 2011, eqs 35-36 and their inverses).
  function coefficients(n) {
    return {
      toGauss: [ // geodetic -> conformal (Gaussian) latitude
        poly(n, 1, [-2, 2 / 3, 4 / 3, -82 / 45, 32 / 45, 4642 / 4725]),
        poly(n, 2, [5 / 3, -16 / 15, -13 / 9, 904 / 315, -1522 / 945]),
        poly(n, 3, [-26 / 15, 34 / 21, 8 / 5, -12686 / 2835]),
        poly(n, 4, [1237 / 630, -12 / 5, -24832 / 14175]),
        poly(n, 5, [-734 / 315, 109598 / 31185]),
        poly(n, 6, [444337 / 155925]),
      ],
      fromGauss: [
        poly(n, 1, [2, -2 / 3, -2, 116 / 45, 26 / 45, -2854 / 675]),
        poly(n, 2, [7 / 3, -8 / 5, -227 / 45, 2704 / 315, 2323 / 945]),
        poly(n, 3, [56 / 15, -136 / 35, -1262 / 105, 73814 / 2835]),
        poly(n, 4, [4279 / 630, -332 / 35, -399572 / 14175]),
        poly(n, 5, [4174 / 315, -144838 / 6237]),
        poly(n, 6, [601676 / 22275]),
      ],
      toPlane: [ // sphere -> ellipsoid, in the plane (alpha_k)
        poly(n, 1, [1 / 2, -2 / 3, 5 / 16, 41 / 180, -127 / 288, 7891 / 37800]),
        poly(n, 2, [13 / 48, -3 / 5, 557 / 1440, 281 / 630, -1983433 / 1935360]),
        poly(n, 3, [61 / 240, -103 / 140, 15061 / 26880, 167603 / 181440]),
        poly(n, 4, [49561 / 161280, -179 / 168, 6601661 / 7257600]),
        poly(n, 5, [34729 / 80640, -3418889 / 1995840]),
        poly(n, 6, [212378941 / 319334400]),
      ],
      fromPlane: [ // beta_k, with their sign: the inverse series
        poly(n, 1, [-1 / 2, 2 / 3, -37 / 96, 1 / 360, 81 / 512, -96199 / 604800]),
        poly(n, 2, [-1 / 48, -1 / 15, 437 / 1440, -46 / 105, 1118711 / 3870720]),
        poly(n, 3, [-17 / 480, 37 / 840, 209 / 4480, -5569 / 90720]),
        poly(n, 4, [-4397 / 161280, 11 / 504, 830251 / 7257600]),
        poly(n, 5, [-4583 / 161280, 108847 / 3991680]),
        poly(n, 6, [-20648693 / 638668800]),
      ],
    };
  }

  // Sum of c[k] sin(2(k+1)B) by Clenshaw's recurrence, given cos 2B and sin 2B.
  function sineSeries(c, angle, cos2, sin2) {
    let h = 0, h1 = c[c.length - 1], h2 = 0;
    for (let k = c.length - 2; k >= 0; k -= 1) {
      h = -h2 + 2 * cos2 * h1 + c[k];
      h2 = h1;
      h1 = h;
    }
    return angle + (c.length > 1 ? h : h1) * sin2;
  }

  // Complex Clenshaw sum of c[k] sin(2(k+1)(u + iv)); returns [real, imaginary].
  function complexSeries(c, sinU, cosU, sinhV, coshV) {
    const r = 2 * cosU * coshV, i = -2 * sinU * sinhV;
    let hr = c[c.length - 1], hi = 0, hr1 = 0, hi1 = 0;
    for (let k = c.length - 2; k >= 0; k -= 1) {
      const hr2 = hr1, hi2 = hi1;
      hr1 = hr;
      hi1 = hi;
      hr = -hr2 + r * hr1 - i * hi1 + c[k];
      hi = -hi2 + i * hr1 + r * hi1;
    }
    const a = sinU * coshV, b = cosU * sinhV;
    return [a * hr - b * hi, a * hi + b * hr];
  }

  function wrapAngle(lam) { // into -pi..pi, leaving a slight overshoot alone
    if (Math.abs(lam) < Math.PI + 1e-12) return lam;
    const turns = lam + Math.PI;
    return turns - 2 * Math.PI * Math.floor(turns / (2 * Math.PI)) - Math.PI;
  }

  function transverseMercator(p) {
    const es = 2 * p.f - p.f * p.f;
    const n = Math.pow(Math.tan(Math.asin(Math.sqrt(es)) / 2), 2);
    const c = coefficients(n);
    const n2 = n * n;
    const scale = p.k_0 / (1 + n) * (1 + n2 * (1 / 4 + n2 * (1 / 64 + n2 / 256)));
    const lam0 = p.lon_0 * DEG, phi0 = p.lat_0 * DEG;
    const z = sineSeries(c.toGauss, phi0, Math.cos(2 * phi0), Math.sin(2 * phi0));
    const zb = -scale * sineSeries(c.toPlane, z, Math.cos(2 * z), Math.sin(2 * z));

    function forward(lon, lat) {
      const phi = lat * DEG;
      if (Math.abs(phi) > Math.PI / 2) return null;
      const lam = wrapAngle(lon * DEG - lam0);
      const chi = sineSeries(c.toGauss, phi, Math.cos(2 * phi), Math.sin(2 * phi));
      const sinChi = Math.sin(chi), cosChi = Math.cos(chi);
      const cosChiCosLam = cosChi * Math.cos(lam);
      let u = Math.atan2(sinChi, cosChiCosLam);
      const inv = 1 / Math.hypot(sinChi, cosChiCosLam);
      const tanV = Math.sin(lam) * cosChi * inv;
      let v = Math.asinh(tanV);
      const twoInvSq = 2 * inv * inv;
      const t = cosChiCosLam * twoInvSq;
      const d = complexSeries(c.toPlane, sinChi * t, cosChiCosLam * t - 1, tanV * (2 * inv),
        twoInvSq - 1);
      u += d[0];
      v += d[1];
      if (!(Math.abs(v) <= EDGE)) return null;
      return [p.a * (scale * v) + p.x_0, p.a * (scale * u + zb) + p.y_0];
    }

    function inverse(x, y) {
      let u = (y - p.y_0) / p.a;
      let v = (x - p.x_0) / p.a;
      u = (u - zb) / scale;
      v = v / scale;
      if (!(Math.abs(v) <= EDGE)) return null;
      const e2v = Math.exp(2 * v);
      const d = complexSeries(c.fromPlane, Math.sin(2 * u), Math.cos(2 * u),
        0.5 * e2v - 0.5 / e2v, 0.5 * e2v + 0.5 / e2v);
      u += d[0];
      v += d[1];
      const sinU = Math.sin(u), cosU = Math.cos(u), sinhV = Math.sinh(v);
      const lam = Math.atan2(sinhV, cosU);
      const chi = Math.atan2(sinU, Math.hypot(sinhV, cosU));
      const phi = sineSeries(c.fromGauss, chi, Math.cos(2 * chi), Math.sin(2 * chi));
      return [wrapAngle(lam + lam0) / DEG, phi / DEG];
    }

    return { forward: forward, inverse: inverse };
  }

  // analysis/grid.py round_to_mm, then _cell_index: the same IEEE operations in order.
  function toMillimetre(v) {
    return Math.floor(v * 1000 + 0.5) / 1000;
  }

  function cellIndex(v, origin, size) {
    let i = Math.floor((v - origin) / size);
    if (v < origin + i * size) i -= 1;
    if (v >= origin + (i + 1) * size) i += 1;
    return i + 0; // never -0 in an id
  }

  function rowsOf(cells) {
    const rows = new Map();
    for (const size of Object.keys(cells || {})) {
      const bySize = new Map();
      for (const run of cells[size]) {
        if (!bySize.has(run[0])) bySize.set(run[0], []);
        bySize.get(run[0]).push([run[1], run[2]]);
      }
      rows.set(Number(size), bySize);
    }
    return rows;
  }

  function parse(id) {
    const m = typeof id === "string" ? CELL_ID.exec(id) : null;
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  }

  function make(config) {
    const projection = config.projection ? transverseMercator(config.projection) : null;
    const ox = Number(config.origin[0]), oy = Number(config.origin[1]);
    const rows = rowsOf(config.cells);

    function snap(lon, lat, cellM) {
      if (projection === null || !Number.isFinite(lon) || !Number.isFinite(lat)) return null;
      if (!Number.isInteger(cellM) || cellM <= 0) return null;
      const xy = projection.forward(lon, lat);
      if (xy === null || !Number.isFinite(xy[0]) || !Number.isFinite(xy[1])) return null;
      const ix = cellIndex(toMillimetre(xy[0]), ox, cellM);
      const iy = cellIndex(toMillimetre(xy[1]), oy, cellM);
      return cellM + ":" + ix + ":" + iy;
    }

    function inside(id) {
      const cell = parse(id);
      const runs = cell && rows.has(cell[0]) ? rows.get(cell[0]).get(cell[2]) : undefined;
      return !!runs && runs.some(function (run) { return run[0] <= cell[1] && cell[1] <= run[1]; });
    }

    function toLatLon(x, y) {
      const lonLat = projection === null ? null : projection.inverse(x, y);
      return lonLat === null ? null : [lonLat[1], lonLat[0]];
    }

    // Without a projection, corners come from the server's lattice (drawing only).
    function listedCorners(cell) {
      const lattice = (config.corners || {})[String(cell[0])];
      if (!lattice || !inside(cell.join(":"))) return null;
      const at = function (ix, iy) {
        const k = 2 * ((iy - lattice.iy0) * lattice.nx + ix - lattice.ix0);
        return [lattice.lonlat[k + 1], lattice.lonlat[k]];
      };
      const ix = cell[1], iy = cell[2];
      return [at(ix, iy), at(ix + 1, iy), at(ix + 1, iy + 1), at(ix, iy + 1)];
    }

    function corners(id) {
      const cell = parse(id);
      if (cell !== null && projection === null) return listedCorners(cell);
      if (cell === null) return null;
      const x0 = ox + cell[1] * cell[0], y0 = oy + cell[2] * cell[0];
      const x1 = x0 + cell[0], y1 = y0 + cell[0];
      const out = [toLatLon(x0, y0), toLatLon(x1, y0), toLatLon(x1, y1), toLatLon(x0, y1)];
      return out.indexOf(null) >= 0 ? null : out;
    }

    function centre(id) {
      const cell = parse(id);
      if (cell !== null && projection === null) {
        const c = listedCorners(cell);
        return c === null ? null : [(c[0][0] + c[2][0]) / 2, (c[0][1] + c[2][1]) / 2];
      }
      if (cell === null) return null;
      return toLatLon(ox + (cell[1] + 0.5) * cell[0], oy + (cell[2] + 0.5) * cell[0]);
    }

    return { snap: snap, inside: inside, corners: corners, centre: centre };
  }

  window.GeoGrid = { make: make };
})();
