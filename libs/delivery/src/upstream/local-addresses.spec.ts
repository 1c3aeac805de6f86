import { isLocalAddress, localHostProblem } from './local-addresses';

describe(isLocalAddress.name, () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '0.0.0.0',
    '169.254.169.254',
    '169.254.1.1',
    '::1',
    '::',
    'fe80::1',
    'fe80::1%eth0',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
  ])('holds %s local', (address) => {
    expect(isLocalAddress(address)).toBe(true);
  });

  it.each(['192.0.2.10', '10.0.0.1', '172.16.0.1', '8.8.8.8', '2001:db8::1', 'fd00:ec2::253', 'example.com'])(
    'holds %s not local',
    (address) => {
      expect(isLocalAddress(address)).toBe(false);
    },
  );
});

describe(localHostProblem.name, () => {
  it('names a local host in a URL and passes others', () => {
    expect(localHostProblem('https://LOCALHOST./x')).toBe('host "localhost" is this machine');
    expect(localHostProblem('https://api.localhost/x')).toBe('host "api.localhost" is this machine');
    expect(localHostProblem('http://[::ffff:7f00:1]/')).toMatch(/^host ::ffff:7f00:1 is a loopback/);
    expect(localHostProblem('http://2130706433/')).toMatch(/^host 127\.0\.0\.1 is a loopback/);
    expect(localHostProblem('https://api.sendgrid.com')).toBeUndefined();
    expect(localHostProblem('not a url')).toBeUndefined();
  });
});
